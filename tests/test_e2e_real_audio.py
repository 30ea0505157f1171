"""End to end with the real faster-whisper model on the real clips in ../shared/data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import shared
from typer.testing import CliRunner

from qa_pipeline.cli import app
from qa_pipeline.config import PROJECT_ROOT
from qa_pipeline.store import ResultStore
from qa_pipeline.text import to_simplified
from qa_testkit.evaluation import error_rate

pytestmark = pytest.mark.slow
QA = Path(sys.executable).parent / "qa"


def run_qa(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(QA), *args, "--db", f"sqlite:///{db}"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "QA_DATA_DIR": str(db.parent)},
        timeout=600,
    )


def test_stereo_file_gives_two_parties_with_their_text(tmp_path: Path) -> None:
    wav = shared("faster-whisper", "stereo_diarization.wav")
    proc = run_qa("score", str(wav), "--json", db=tmp_path / "qa.db")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    expected = dict(line.split("\t", 1) for line in wav.with_suffix(".txt").read_text().splitlines())
    assert result["language"] == "en"
    by_channel = {0: "", 1: ""}
    for u in result["utterances"]:
        by_channel[u["channel"]] += " " + u["text"]
        assert u["role"] == ("agent" if u["channel"] == 0 else "customer")
        assert u["words"] and u["start"] <= u["words"][0]["start"] and u["words"][-1]["end"] <= u["end"] + 1e-6
    assert error_rate(expected["left"], by_channel[0], "en") <= 0.1
    assert error_rate(expected["right"], by_channel[1], "en") <= 0.1
    assert result["versions"]["asr_model"].startswith("faster-whisper-base@")
    assert result["versions"]["rubric_id"] == "en_generic"  # English calls without a routed queue


def test_mandarin_comes_out_simplified(tmp_path: Path) -> None:
    wav = shared("wenet", "aishell-BAC009S0724W0121.wav")
    reference = dict(line.split(" ", 1) for line in (wav.parent / "text").read_text(encoding="utf-8").splitlines())
    proc = run_qa("score", str(wav), "--json", db=tmp_path / "qa.db")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    text = "".join(u["text"] for u in result["utterances"])
    assert result["language"] == "zh" and text
    assert to_simplified(text) == text, f"Traditional characters in {text!r}"
    assert error_rate(reference["aishell-BAC009S0724W0121"], text, "zh") <= 0.35
    # mono: diarized; one voice, so one speaker, whose role assignment is recorded with its evidence
    roles = result["versions"]["options"]["roles"]
    assert roles["method"] == "single_speaker" and len(roles["roles"]) == 1
    assert {u["role"] for u in result["utterances"]} == set(roles["roles"].values())


def test_batch_reports_bad_files_and_scores_the_rest_idempotently(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    calls.mkdir()
    shutil.copy(shared("faster-whisper", "stereo_diarization.wav"), calls / "good_stereo.wav")
    data, sr = sf.read(shared("wenet", "librispeech-1995-1837-0001.wav"))
    sf.write(calls / "good_mono.flac", data, sr)
    (calls / "good_mono.json").write_text(json.dumps({"agent_id": "A7", "language": "en"}), encoding="utf-8")
    (calls / "empty.wav").write_bytes(b"")
    (calls / "notes.wav").write_text("this is a text file\n" * 10, encoding="utf-8")
    good = (calls / "good_stereo.wav").read_bytes()
    (calls / "corrupt.wav").write_bytes(good[:8] + b"\x13\x37" * 20 + good[48:])
    db = tmp_path / "qa.db"
    runner = CliRunner()
    env = {"QA_DATA_DIR": str(tmp_path / "data")}

    first = runner.invoke(app, ["batch", str(calls), "--db", f"sqlite:///{db}"], env=env)
    assert first.exit_code == 1, first.output  # some calls failed; the others were stored
    out = first.output
    for name, reason in [("empty.wav", "empty file"), ("notes.wav", "not audio"), ("corrupt.wav", "cannot decode")]:
        assert name in out and reason in out, out
    assert "2 scored, 0 already scored (skipped), 3 failed" in out
    assert (tmp_path / "data" / "results" / "good_stereo.json").is_file()
    with ResultStore(f"sqlite:///{db}") as store:
        assert store.call_ids() == ["good_mono", "good_stereo"]
        assert store.count_results() == 2
        assert {f.path.rsplit("/", 1)[1] for f in store.open_failures()} == {"empty.wav", "notes.wav", "corrupt.wav"}
        assert store.latest("good_mono").metadata.agent_id == "A7"

    second = runner.invoke(app, ["batch", str(calls), "--db", f"sqlite:///{db}"], env=env)
    assert second.exit_code == 1, second.output
    assert "0 scored, 2 already scored (skipped), 3 failed" in second.output
    with ResultStore(f"sqlite:///{db}") as store:
        assert store.count_results() == 2  # idempotent: nothing added

    forced = runner.invoke(app, ["batch", str(calls), "--db", f"sqlite:///{db}", "--force"], env=env)
    assert "2 scored" in forced.output
    with ResultStore(f"sqlite:///{db}") as store:
        assert store.count_results() == 2  # --force replaces, never duplicates

    shown = runner.invoke(app, ["show", "good_stereo", "--db", f"sqlite:///{db}"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "Transcript" in shown.output and "Scorecard en_generic" in shown.output
    as_json = runner.invoke(app, ["show", "good_stereo", "--json", "--db", f"sqlite:///{db}"], env=env)
    assert "He began a confused complaint" in json.loads(as_json.output)["utterances"][0]["text"]

    missing = runner.invoke(app, ["show", "nope", "--db", f"sqlite:///{db}"], env=env)
    assert missing.exit_code == 2 and "no scored call with id 'nope'" in missing.output


@pytest.mark.parametrize("call, language", [("zh_good_agent", "zh"), ("en_rude_agent", "en")])
def test_language_is_identified_once_per_call_from_its_speech(pipeline, call: str, language: str) -> None:
    from qa_pipeline.asr.transcriber import LANGUAGE_SAMPLE_S, language_sample
    from qa_pipeline.audio import load_audio

    audio = load_audio(PROJECT_ROOT / "samples" / "calls" / f"{call}.wav")
    sample = language_sample(audio.channels)
    # one short sample for the whole (stereo) call, made of speech from both parties: a full
    # LANGUAGE_SAMPLE_S, found in the first scan span of these calls
    assert sample.size == LANGUAGE_SAMPLE_S * 16000
    from qa_pipeline.asr import transcriber as asr_module

    first_span = [c[: int(asr_module.LANGUAGE_SCAN_S[0] * 16000)] for c in audio.channels]
    assert np.array_equal(asr_module.language_sample(first_span), sample)
    detected, probability = pipeline.transcriber.detect_language(audio.channels)
    assert (detected, probability > 0.9) == (language, True)


def test_score_of_a_missing_path_or_a_folder_is_a_bad_argument(tmp_path: Path) -> None:
    """Exit 2 (the command could not run), one line naming the path, nothing recorded as failed."""
    for path, said in ((tmp_path / "nope.wav", "file not found"), (tmp_path, "a folder: score its recordings with `qa batch`")):
        proc = run_qa("score", str(path), db=tmp_path / "qa.db")
        assert proc.returncode == 2, proc.stderr
        assert f"{path}: {said}" in " ".join(proc.stderr.split())
    failures = run_qa("failures", db=tmp_path / "qa.db")
    assert failures.returncode == 0 and "nope.wav" not in failures.stdout
