"""Distributed scoring against real servers: SeaweedFS S3 (``weed mini`` on 127.0.0.1) through
the ``minio`` SDK, and a real local Ray instance.

Fault tests kill an ASR worker and restart the S3 server mid-batch, mix bad objects with
good ones, and kill the driver; every call must be accounted for exactly once.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import SAMPLES
from s3server import ACCESS_KEY, SECRET_KEY, SeaweedS3

from qa_pipeline.batch import ResultSink
from qa_pipeline.config import PROJECT_ROOT, Settings, load_settings
from qa_pipeline.storage import S3Store, StorageError, open_store
from qa_pipeline.store import ResultStore

QA = [sys.executable, "-m", "qa_pipeline"]
SHORT_CALLS = ["en_rude_agent", "en_missing_greeting_closing", "zh_no_closing"]


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory):
    server = SeaweedS3(tmp_path_factory.mktemp("weed"))
    server.start()
    yield server
    server.stop()


def _settings(s3: SeaweedS3, data_dir: Path, **ray: object) -> Settings:
    return load_settings(
        None,
        data_dir=data_dir,
        s3={"endpoint": s3.endpoint, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY},
        ray={"temp_dir": Path("/tmp") / f"qa-ray-t{os.getpid()}", **ray},
    )


def _bucket(s3: SeaweedS3, name: str) -> None:
    client = s3.client()
    if not client.bucket_exists(name):
        client.make_bucket(name)


def _upload_calls(s3: SeaweedS3, bucket: str, prefix: str, names: list[str], *, sidecars: bool = True) -> list[str]:
    _bucket(s3, bucket)
    client = s3.client()
    uris = []
    for name in names:
        client.fput_object(bucket, f"{prefix}{name}.wav", str(SAMPLES / f"{name}.wav"), content_type="audio/wav")
        if sidecars:
            client.fput_object(bucket, f"{prefix}{name}.json", str(SAMPLES / f"{name}.json"), content_type="application/json")
        uris.append(f"s3://{bucket}/{prefix}{name}.wav")
    return uris


def _put(s3: SeaweedS3, bucket: str, key: str, data: bytes, **kw: object) -> str:
    s3.client().put_object(bucket, key, io.BytesIO(data), len(data), **kw)
    return f"s3://{bucket}/{key}"


def _keys(s3: SeaweedS3, bucket: str, prefix: str) -> list[str]:
    return sorted(o.object_name for o in s3.client().list_objects(bucket, prefix=prefix, recursive=True))


def _run_qa(args: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*QA, *args], env={**os.environ, **env}, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout
    )


# --------------------------------------------------------------------------- object store, no models


def test_s3_listing_streams_audio_only_and_resumes_after_a_key(s3: SeaweedS3, tmp_path: Path) -> None:
    _bucket(s3, "listing")
    for key in ["d/a.wav", "d/b.json", "d/c.mp3", "d/.hidden/x.wav", "d/sub/e.flac", "qa-results/calls/a.json", "other/z.wav"]:
        _put(s3, "listing", key, b"x")
    store = open_store("s3://listing/d/", _settings(s3, tmp_path))
    assert [r.key for r in store.iter_recordings()] == ["d/a.wav", "d/c.mp3", "d/sub/e.flac"]
    assert [r.key for r in store.iter_recordings(start_after="d/c.mp3")] == ["d/sub/e.flac"]
    ref = next(iter(store.iter_recordings()))
    assert ref.uri == "s3://listing/d/a.wav" and ref.size == 1 and ref.last_modified is not None
    # the whole bucket: the results prefix is never taken for recordings
    assert "qa-results/calls/a.json" not in [r.key for r in open_store("s3://listing", _settings(s3, tmp_path)).iter_recordings()]


def test_s3_metadata_precedence_sidecar_over_object_metadata_over_manifest(s3: SeaweedS3, tmp_path: Path) -> None:
    _bucket(s3, "meta")
    wav = (SAMPLES / "en_rude_agent.wav").read_bytes()
    _put(s3, "meta", "day/20261121-101500_A1001_c1.wav", wav, metadata={"agent-id": "A2002", "team": "obj-team", "site": "sz"})
    _put(s3, "meta", "day/manifest.csv", "file,team,queue,agent_name\n20261121-101500_A1001_c1.wav,csv-team,95598-1,Li\n".encode())
    _put(s3, "meta", "day/20261121-101500_A1001_c1.json", json.dumps({"team": "sidecar-team"}).encode())
    store = open_store("s3://meta/day/", _settings(s3, tmp_path))
    [ref] = list(store.iter_recordings())
    fetched = store.fetch(ref)
    m = fetched.source.metadata
    assert (m.call_id, m.team, m.agent_id, m.queue, m.agent_name) == (
        "20261121-101500_A1001_c1", "sidecar-team", "A2002", "95598-1", "Li"
    )  # agent A1001 from the name, A2002 from object metadata
    assert m.custom == {"site": "sz"}
    assert m.start_time == datetime(2026, 11, 21, 10, 15, tzinfo=m.start_time.tzinfo)
    assert fetched.source.location == "s3://meta/day/20261121-101500_A1001_c1.wav"
    assert fetched.audio.info.path == fetched.source.location and len(fetched.audio.channels) == 2


def test_s3_errors_name_the_object(s3: SeaweedS3, tmp_path: Path) -> None:
    _bucket(s3, "errors")
    _put(s3, "errors", "x/notes.wav", b"this is a text file\n" * 10)
    _put(s3, "errors", "x/empty.wav", b"")
    _put(s3, "errors", "x/good.wav", (SAMPLES / "en_rude_agent.wav").read_bytes())
    _put(s3, "errors", "x/good.json", b"{not json")
    store = open_store("s3://errors/x/", _settings(s3, tmp_path))
    problems = {}
    for ref in store.iter_recordings():
        with pytest.raises(Exception) as info:
            store.fetch(ref)
        problems[ref.name] = str(info.value)
    assert problems["notes.wav"] == "s3://errors/x/notes.wav: not audio: the file contains text"
    assert problems["empty.wav"] == "s3://errors/x/empty.wav: empty file (0 bytes)"
    assert problems["good.wav"].startswith("s3://errors/x/good.json: sidecar is not valid JSON")
    wrong = load_settings(None, data_dir=tmp_path, s3={"endpoint": s3.endpoint, "access_key": ACCESS_KEY, "secret_key": "nope", "retries": 1})
    with pytest.raises(StorageError, match="SignatureDoesNotMatch"):
        list(open_store("s3://errors/x/", wrong).iter_recordings())


def test_watcher_yields_only_new_uploads_and_resumes_from_its_watermark(s3: SeaweedS3, tmp_path: Path) -> None:
    from qa_pipeline.distributed.watch import BucketWatcher

    _bucket(s3, "watch-unit")
    old = _put(s3, "watch-unit", "live/old.wav", b"x")
    store = open_store("s3://watch-unit/live/", _settings(s3, tmp_path))
    assert isinstance(store, S3Store)
    time.sleep(2.1)  # S3 times have 1 s resolution; a new watcher takes what landed since a second before it started
    watcher = BucketWatcher(store, state_dir=tmp_path / "watch", interval_s=0.2, notifications=False)
    stream = iter(watcher)
    assert next(stream) is None  # nothing new
    new = _put(s3, "watch-unit", "live/new.wav", b"x")
    seen = [r for r in (next(stream) for _ in range(20)) if r is not None]
    assert [r.uri for r in seen] == [new]
    assert old not in [r.uri for r in seen]
    # killed before the call finished: a new watcher (same state dir) yields it again
    again = BucketWatcher(store, state_dir=tmp_path / "watch", interval_s=0.2, notifications=False)
    assert [r.uri for r in (next(iter(again)) for _ in range(1)) if r is not None] == [new]
    # once finished, the watermark passes it
    watcher.finished(new)
    third = BucketWatcher(store, state_dir=tmp_path / "watch", interval_s=0.2, notifications=False)
    assert next(iter(third)) is None
    # a date-partitioned prefix lists today's partition only
    templated = BucketWatcher(
        open_store("s3://watch-unit/{date:%Y%m%d}/", _settings(s3, tmp_path)),  # type: ignore[arg-type]
        state_dir=tmp_path / "w2", since=datetime.now(timezone.utc) - timedelta(days=3), grace_s=0, notifications=False,
    )
    today = datetime.now(templated.tz).strftime("%Y%m%d")
    assert templated._prefixes() == [f"{today}/"]
    fresh = _put(s3, "watch-unit", f"{today}/call.wav", b"x")
    _put(s3, "watch-unit", "19990101/call.wav", b"x")
    assert [r.uri for r in (next(iter(templated)),) if r is not None] == [fresh]


# --------------------------------------------------------------------------- real models + Ray


@pytest.mark.slow
def test_batch_over_a_bucket_scores_every_sample_call_and_a_second_run_adds_nothing(
    s3: SeaweedS3, tmp_path: Path, sample_results: dict
) -> None:
    names = sorted(p.stem for p in SAMPLES.glob("*.wav"))
    uris = _upload_calls(s3, "calls", "2026-11-21/", names)
    env = {**s3.env(), "QA_DATA_DIR": str(tmp_path / "data"), "QA_RAY__TEMP_DIR": f"/tmp/qa-ray-b{os.getpid()}"}
    first = _run_qa(["batch", "s3://calls/2026-11-21/"], env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"{len(names)} scored, 0 already scored (skipped), 0 failed" in first.stdout, first.stdout[-2000:]
    # the batch also gave every call its drivers (qa analytics update), so dashboards are current
    assert f"analytics: {len(names)} call(s) analysed for call drivers" in first.stdout, first.stdout[-2000:]
    db = tmp_path / "data" / "qa.db"
    with ResultStore(f"sqlite:///{db}") as store:
        assert store.call_ids() == names
        results = {n: store.latest(n) for n in names}
    for name in names:
        ours, reference = results[name], sample_results[name]
        # same code, same models: the distributed path gives the in-process result, exactly
        assert ours.result_key == reference.result_key
        assert ours.transcript == reference.transcript, name
        assert ours.scorecard == reference.scorecard, name
        assert ours.flags == reference.flags, name
        assert ours.audio.path == f"s3://calls/2026-11-21/{name}.wav" and ours.metadata.agent_id == reference.metadata.agent_id
    bucket_results = _keys(s3, "calls", "qa-results/calls/")
    assert bucket_results == [f"qa-results/calls/{n}.json" for n in names]
    body = s3.client().get_object("calls", f"qa-results/calls/{names[0]}.json").read()
    assert json.loads(body)["result_key"] == results[names[0]].result_key
    days = _keys(s3, "calls", "qa-results/daily/")
    assert days and all(k.endswith(("summary.parquet", "summary.csv")) for k in days)
    parquet_rows = 0
    for key in (k for k in days if k.endswith(".parquet")):
        table = pq.read_table(io.BytesIO(s3.client().get_object("calls", key).read()))
        parquet_rows += table.num_rows
        assert {"call_id", "agent_id", "total", "failed_items", "result_key"} <= set(table.column_names)
    assert parquet_rows == len(names)  # every call in exactly one day's summary

    second = _run_qa(["batch", "s3://calls/2026-11-21/"], env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"0 scored, {len(names)} already scored (skipped), 0 failed" in second.stdout
    with ResultStore(f"sqlite:///{db}") as store:
        assert store.count_results() == len(names)
    assert _keys(s3, "calls", "qa-results/calls/") == bucket_results
    assert len(uris) == len(names)


@pytest.mark.slow
def test_faults_worker_killed_s3_restarted_bad_objects_nothing_lost_nothing_duplicated(s3: SeaweedS3, tmp_path: Path) -> None:
    from qa_pipeline.distributed import RayRunner

    good = _upload_calls(s3, "faults", "day/", SHORT_CALLS)
    bad = {
        _put(s3, "faults", "day/notes.wav", b"this is a text file\n" * 10): "not audio",
        _put(s3, "faults", "day/empty.wav", b""): "empty file",
    }
    settings = _settings(s3, tmp_path / "data", max_in_flight=2)
    objects = open_store("s3://faults/day/", settings)
    events: dict[str, object] = {}
    threads: list[threading.Thread] = []
    weed_pid = s3.proc.pid if s3.proc else None

    def kill_worker(pid: int) -> None:
        time.sleep(1.0)  # mid-transcription
        os.kill(pid, signal.SIGKILL)
        events["killed"] = pid

    def restart_s3() -> None:
        s3.stop()
        time.sleep(2.0)
        s3.start()
        events["restarted"] = s3.proc.pid if s3.proc else None

    def hook(step: str, call_id: str, /, **info: object) -> None:
        if step == "transcribe" and "kill" not in events:
            events["kill"] = call_id
            threads.append(threading.Thread(target=kill_worker, args=(info["worker_pid"],)))
            threads[-1].start()
        if step == "done" and "restart" not in events:
            events["restart"] = call_id
            threads.append(threading.Thread(target=restart_s3))
            threads[-1].start()

    with ResultStore(settings.resolved_database_url) as store, RayRunner(settings, hook=hook) as runner:
        sink = ResultSink(store, settings.resolved_results_dir, objects=objects, timezone=settings.timezone)
        outcomes = list(runner.run(objects, objects.iter_recordings(), sink))
        retried = runner.progress.retried
        call_ids = store.call_ids()
        n_results = store.count_results()
        failures = {f.path: f.reason for f in store.open_failures()}
    for thread in threads:
        thread.join()

    # every object accounted for exactly once
    assert sorted(o.path for o in outcomes) == sorted([*good, *bad])
    by_path = {o.path: o for o in outcomes}
    assert all(by_path[u].status == "scored" for u in good), [by_path[u].error for u in good]
    for uri, reason in bad.items():
        assert by_path[uri].status == "failed" and reason in failures[uri]
    assert call_ids == sorted(SHORT_CALLS) and n_results == len(SHORT_CALLS)  # nothing lost, nothing duplicated
    assert _keys(s3, "faults", "qa-results/calls/") == [f"qa-results/calls/{n}.json" for n in sorted(SHORT_CALLS)]
    # the faults really happened during the batch
    assert events.get("killed") and retried >= 1
    assert events.get("restarted") not in (None, weed_pid)


@pytest.mark.slow
def test_driver_killed_mid_batch_then_rerun_scores_the_rest_once(s3: SeaweedS3, tmp_path: Path) -> None:
    uris = _upload_calls(s3, "resume", "day/", SHORT_CALLS)
    data = tmp_path / "data"
    env = {**s3.env(), "QA_DATA_DIR": str(data), "QA_RAY__TEMP_DIR": f"/tmp/qa-ray-r{os.getpid()}", "QA_RAY__MAX_IN_FLIGHT": "1"}
    proc = subprocess.Popen(
        [*QA, "batch", "s3://resume/day/"], env={**os.environ, **env}, cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    db = data / "qa.db"
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            if db.is_file():
                with ResultStore(f"sqlite:///{db}") as store:
                    if store.count_results() >= 1:
                        break
            assert proc.poll() is None, "the batch ended before it could be killed"
            time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)  # the driver only
        proc.wait()
    finally:
        time.sleep(2)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the local Ray instance outlived it
        except ProcessLookupError:
            pass
    with ResultStore(f"sqlite:///{db}") as store:
        done_before = store.count_results()
    assert 1 <= done_before < len(SHORT_CALLS)

    rerun = _run_qa(["batch", "s3://resume/day/"], env)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    expected = f"{len(SHORT_CALLS) - done_before} scored, {done_before} already scored (skipped), 0 failed"
    assert expected in rerun.stdout, rerun.stdout[-2000:]
    with ResultStore(f"sqlite:///{db}") as store:
        assert store.call_ids() == sorted(SHORT_CALLS) and store.count_results() == len(SHORT_CALLS)
    assert len(uris) == len(SHORT_CALLS)


@pytest.mark.slow
def test_watch_scores_a_new_upload_and_reports_its_latency(s3: SeaweedS3, tmp_path: Path) -> None:
    """Functional check; the latency target lives in benchmarks/bench_watch.py."""
    _bucket(s3, "live")
    data = tmp_path / "data"
    env = {**s3.env(), "QA_DATA_DIR": str(data), "QA_RAY__TEMP_DIR": f"/tmp/qa-ray-w{os.getpid()}"}
    proc = subprocess.Popen(
        [*QA, "watch", "s3://live/calls/", "--interval", "1", "--stop-after", "1"],
        env={**os.environ, **env}, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines = []
        deadline = time.monotonic() + 300
        assert proc.stderr is not None
        for line in proc.stderr:  # wait until the workers have their models loaded
            lines.append(line)
            if "ready" in line or time.monotonic() > deadline:
                break
        assert any("ready" in line for line in lines), "".join(lines)[-2000:]
        _upload_calls(s3, "live", "calls/", ["en_rude_agent"])
        out, err = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "scored en_rude_agent" in out and "after upload" in out, out
    latency = float(out.split("scored en_rude_agent ", 1)[1].split(" s after upload")[0])
    assert latency > 0  # measured from the object's Last-Modified to the stored result
    with ResultStore(f"sqlite:///{data / 'qa.db'}") as store:
        assert store.call_ids() == ["en_rude_agent"]
    assert _keys(s3, "live", "qa-results/calls/") == ["qa-results/calls/en_rude_agent.json"]
