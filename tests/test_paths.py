"""One call, one truth: the same recordings give identical transcripts and scorecards through
``qa score``, ``qa batch --no-ray``, ``qa batch`` on a local Ray instance and the in-process
pipeline of the test session (the bucket path is compared in tests/test_distributed.py).

The recordings: two stereo sample calls (one the call whose identity-check item flipped between
paths before the OpenMP fix) and a mono call made here by down-mixing a third, so diarization
runs on every path too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import SAMPLES

from qa_pipeline.config import PROJECT_ROOT
from qa_pipeline.records import CallResult
from qa_pipeline.store import ResultStore

pytestmark = pytest.mark.slow

STEREO = ["zh_missing_greeting", "en_rude_agent"]
MONO_FROM = "zh_no_closing"
QA = [sys.executable, "-m", "qa_pipeline"]


def _qa(args: list[str], data: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QA_DATA_DIR": str(data), "QA_RAY__TEMP_DIR": f"/tmp/qa-ray-p{os.getpid()}", **extra}
    return subprocess.run([*QA, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("path-calls")
    for name in STEREO:
        shutil.copy(SAMPLES / f"{name}.wav", folder)
        shutil.copy(SAMPLES / f"{name}.json", folder)
    samples, rate = sf.read(SAMPLES / f"{MONO_FROM}.wav", dtype="int16")
    mono = (samples.astype(np.int32).sum(axis=1) // 2).astype(np.int16)
    sf.write(folder / "mono_call.wav", mono, rate, subtype="PCM_16")
    meta = json.loads((SAMPLES / f"{MONO_FROM}.json").read_text(encoding="utf-8"))
    meta.pop("agent_channel", None)
    meta["call_id"] = "mono_call"
    (folder / "mono_call.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return folder


def _stored(data: Path) -> dict[str, CallResult]:
    with ResultStore(f"sqlite:///{data / 'qa.db'}") as store:
        return {cid: store.current(cid) for cid in store.call_ids()}


def _same(a: CallResult, b: CallResult, path: str) -> None:
    assert a.result_key == b.result_key, (path, a.call_id)
    assert a.transcript == b.transcript, (path, a.call_id)
    assert a.scorecard == b.scorecard, (path, a.call_id)
    assert a.flags == b.flags, (path, a.call_id)
    assert a.metrics == b.metrics, (path, a.call_id)


def test_every_path_gives_the_same_transcript_and_scorecard(calls: Path, tmp_path: Path, sample_results: dict) -> None:
    by_path: dict[str, dict[str, CallResult]] = {}
    for path, args in {
        "batch --no-ray": ["batch", str(calls), "--no-ray"],
        "batch on Ray": ["batch", str(calls)],
    }.items():
        data = tmp_path / path.replace(" ", "_")
        run = _qa(args, data)
        assert run.returncode == 0, (path, run.stdout[-2000:], run.stderr[-3000:])
        by_path[path] = _stored(data)
    score_data = tmp_path / "score"
    by_path["qa score"] = {}
    for wav in sorted(calls.glob("*.wav")):
        run = _qa(["score", str(wav), "--json"], score_data)
        assert run.returncode == 0, (wav, run.stderr[-3000:])
        result = CallResult.from_dict(json.loads(run.stdout))
        by_path["qa score"][result.call_id] = result

    names = sorted(by_path["qa score"])
    assert names == sorted([*STEREO, "mono_call"])
    reference = by_path["qa score"]
    assert len(reference["mono_call"].transcript.utterances) > 2
    for path, results in by_path.items():
        assert sorted(results) == names, path
        for name in names:
            _same(results[name], reference[name], path)
    for name in STEREO:  # and the test session's in-process pipeline
        _same(sample_results[name], reference[name], "in-process")
    # the result records the numeric environment it was computed in
    assert reference[STEREO[0]].versions.options.numerics.openmp == "multi"


def test_a_batch_with_failed_calls_exits_1_and_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEfmt this is not audio")
    run = _qa(["batch", str(folder), "--no-ray"], tmp_path / "data")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "0 scored, 0 already scored (skipped), 1 failed" in run.stdout
    bad = _qa(["batch", str(tmp_path / "missing-folder"), "--no-ray"], tmp_path / "data")
    assert bad.returncode == 2 and "error" in bad.stderr


def test_two_batches_on_the_same_folder_transcribe_each_call_once(calls: Path, tmp_path: Path) -> None:
    folder = tmp_path / "two"
    folder.mkdir()
    for name in STEREO:
        shutil.copy(calls / f"{name}.wav", folder)
        shutil.copy(calls / f"{name}.json", folder)
    data = tmp_path / "data"
    env = {**os.environ, "QA_DATA_DIR": str(data)}
    procs = [
        subprocess.Popen([*QA, "batch", str(folder), "--no-ray"], env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    scored = sum(int(out.split(" scored, ", 1)[0].rsplit("\n", 1)[-1]) for out, _ in outs)
    assert scored == len(STEREO), [o[0][-1500:] for o in outs]  # no call was transcribed twice
    with ResultStore(f"sqlite:///{data / 'qa.db'}") as store:
        assert store.call_ids() == sorted(STEREO) and store.count_results() == len(STEREO)
