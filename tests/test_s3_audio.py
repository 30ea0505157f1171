"""Audio of bucket calls is played through the server (issues 11 and 14), with the same role
checks as local audio, from a real S3 server (SeaweedFS): the browser never talks to the
bucket, Range requests work for seeking, and only bytes that hash to the scored audio's
sha256 are served."""

from __future__ import annotations

import hashlib
import io
import stat
from pathlib import Path
from typing import Iterator

import pytest
from conftest import SAMPLES
from fastapi.testclient import TestClient
from s3server import ACCESS_KEY, SECRET_KEY, SeaweedS3
from sqlalchemy.orm import sessionmaker

from qa_pipeline.config import Settings, load_settings
from qa_pipeline.store import ResultStore
from qa_pipeline.web import create_app
from qa_pipeline.web.auth import add_user
from qa_testkit.web_results import make_result

PASSWORD = "correct horse 1"
WAV = SAMPLES / "en_rude_agent.wav"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = SeaweedS3(tmp_path_factory.mktemp("weed"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def web(s3: SeaweedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, ResultStore]]:
    client = s3.client()
    client.make_bucket("calls")
    data = WAV.read_bytes()
    client.put_object("calls", "day1/b_rude.wav", io.BytesIO(data), len(data), content_type="audio/wav")
    first = (SAMPLES / "en_missing_greeting_closing.wav").read_bytes()
    client.put_object("calls", "day1/b_swapped.wav", io.BytesIO(first), len(first), content_type="audio/wav")
    settings = load_settings(
        None, data_dir=tmp_path_factory.mktemp("s3-web") / "data",
        s3={"endpoint": s3.endpoint, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY},
    )
    store = ResultStore(settings.resolved_database_url)
    from dataclasses import replace

    for call_id, key, team in (("b_rude", "day1/b_rude.wav", "抢修一组"), ("b_other", "day1/b_rude.wav", "营销二组"),
                               ("b_swapped", "day1/b_swapped.wav", "抢修一组"), ("b_gone", "day1/nothing.wav", "抢修一组")):
        r = make_result(call_id, dialogue=3, team=team, agent_id="A1001" if team == "抢修一组" else "A2002")
        scored = first if call_id == "b_swapped" else data
        store.save(replace(r, audio=replace(r.audio, path=f"s3://calls/{key}", sha256=hashlib.sha256(scored).hexdigest())))
    sessions = sessionmaker(store.engine)
    add_user(sessions, "sup", PASSWORD, "supervisor", teams=["抢修一组"])
    add_user(sessions, "wang", PASSWORD, "agent", agent_id="A1001")
    # after scoring, the object of b_swapped is overwritten with other audio (never fetched before)
    other = (SAMPLES / "zh_no_closing.wav").read_bytes()
    client.put_object("calls", "day1/b_swapped.wav", io.BytesIO(other), len(other), content_type="audio/wav")
    yield settings, store
    store.close()


def login(web: tuple[Settings, ResultStore], username: str) -> TestClient:
    settings, store = web
    c = TestClient(create_app(settings, store=store))
    r = c.post("/api/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c


def test_bucket_audio_is_streamed_through_the_server_with_ranges(web) -> None:
    settings, _ = web
    c = login(web, "wang")
    full = c.get("/api/calls/b_rude/audio")
    assert full.status_code == 200 and full.content == WAV.read_bytes()
    assert full.headers["content-type"] == "audio/wav" and full.headers["cache-control"] == "no-store"
    part = c.get("/api/calls/b_rude/audio", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == WAV.read_bytes()[1000:2000]
    cache = settings.data_dir / "audio-cache"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in cache.iterdir())


def test_bucket_audio_has_the_same_role_checks(web) -> None:
    assert login(web, "wang").get("/api/calls/b_other/audio").status_code == 403
    assert login(web, "sup").get("/api/calls/b_other/audio").status_code == 403
    assert login(web, "sup").get("/api/calls/b_rude/audio").status_code == 200
    assert TestClient(create_app(*web[:1], store=web[1])).get("/api/calls/b_rude/audio").status_code == 401


def test_a_bucket_object_changed_since_scoring_or_gone_is_not_served(web, s3: SeaweedS3) -> None:
    c = login(web, "wang")
    r = c.get("/api/calls/b_swapped/audio")
    assert r.status_code == 409 and "changed since it was scored" in r.json()["detail"]
    r = c.get("/api/calls/b_gone/audio")
    assert r.status_code == 404 and "no longer in the bucket" in r.json()["detail"]
    # an object deleted from the bucket (retention, erasure) is no longer served from the cache
    assert c.get("/api/calls/b_rude/audio").status_code == 200  # cached now
    s3.client().remove_object("calls", "day1/b_rude.wav")
    r = c.get("/api/calls/b_rude/audio")
    assert r.status_code == 404 and "no longer in the bucket" in r.json()["detail"]
    assert not [p for p in (web[0].data_dir / "audio-cache").iterdir() if p.suffix == ".wav" and p.stat().st_size == WAV.stat().st_size]


def _upload_cut(s3: SeaweedS3, bucket: str, name: str, keep: float) -> None:
    client = s3.client()
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    data = (SAMPLES / f"{name}.wav").read_bytes()
    data = data[: int(len(data) * keep)]
    client.put_object(bucket, f"day/{name}.wav", io.BytesIO(data), len(data), content_type="audio/wav")
    side = (SAMPLES / f"{name}.json").read_bytes()
    client.put_object(bucket, f"day/{name}.json", io.BytesIO(side), len(side), content_type="application/json")


def test_a_truncated_bucket_recording_is_flagged_at_fetch(s3: SeaweedS3, tmp_path: Path) -> None:
    from qa_pipeline.storage import open_store

    _upload_cut(s3, "cut", "zh_no_closing", 1 / 3)
    _upload_cut(s3, "cut", "en_rude_agent", 1.0)
    settings = load_settings(None, data_dir=tmp_path / "data", s3={"endpoint": s3.endpoint, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY})
    objects = open_store("s3://cut/day/", settings)
    fetched = {ref.name: objects.fetch(ref) for ref in objects.iter_recordings()}
    assert [f.id for f in fetched["zh_no_closing.wav"].source.file_flags] == ["truncated"]
    assert "declares 41.6 s" in fetched["zh_no_closing.wav"].source.file_flags[0].reason
    assert fetched["en_rude_agent.wav"].source.file_flags == ()


@pytest.mark.slow
def test_a_truncated_bucket_recording_scored_in_process_keeps_the_flag(s3: SeaweedS3, pipeline, tmp_path: Path) -> None:
    from qa_pipeline.batch import fetch_each, score_sources
    from qa_pipeline.storage import open_store

    _upload_cut(s3, "cut2", "zh_missing_greeting", 1 / 3)
    settings = load_settings(None, data_dir=tmp_path / "data", s3={"endpoint": s3.endpoint, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY})
    objects = open_store("s3://cut2/day/", settings)
    store = ResultStore(settings.resolved_database_url)
    [outcome] = list(score_sources(fetch_each(objects, objects.iter_recordings()), pipeline, store, results_dir=settings.resolved_results_dir))
    assert outcome.status == "scored" and outcome.result is not None
    assert outcome.result.flags[0].id == "truncated" and outcome.result.scorecard.needs_review
    assert store.latest(outcome.result.call_id).flags[0].id == "truncated"
    store.close()
