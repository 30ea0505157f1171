"""Synthetic scored calls for the web app's tests, demo accounts and benchmarks.

A handful of short Mandarin dialogues are scored once with the real rubric engine; the
results are then copied with new call ids, agents, teams and times, so thousands of rows
cost no more than a few scorings.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, Sequence

from qa_pipeline import __version__
from qa_pipeline.privacy import redact_result
from qa_pipeline.records import (
    SCHEMA_VERSION,
    AudioInfo,
    CallMetadata,
    CallResult,
    Role,
    RunOptions,
    Transcript,
    Utterance,
    Versions,
    Word,
)
from qa_pipeline.redaction import Redactor
from qa_pipeline.scoring import CallContext, Scorer, compute_metrics, find_rubric

#: (agent opening, customer line, agent closing): good, no greeting, no closing, rude, with PII
DIALOGUES: tuple[tuple[str, str, str], ...] = (
    ("您好，国家电网，工号一零二三，请问有什么可以帮您", "我家停电了", "感谢您的来电，再见"),
    ("喂", "我家停电了，电话13812345678", "感谢您的来电，再见"),
    ("您好，国家电网，工号一零二三", "我家停电了", "嗯"),
    ("喂，你烦不烦啊", "我家停电了", "挂了"),
    ("您好，国家电网，工号一零二三，请问有什么可以帮您", "我的手机号是13912345678", "好的"),
)


def _utt(i: int, role: Role, start: float, end: float, text: str) -> Utterance:
    step = (end - start) / max(len(text), 1)
    words = tuple(Word(round(start + k * step, 3), round(start + (k + 1) * step, 3), ch, 0.9) for k, ch in enumerate(text))
    return Utterance(id=f"u{i:04d}", role=role, channel=0 if role is Role.AGENT else 1, start=start, end=end, text=text, words=words)


def make_result(
    call_id: str,
    *,
    dialogue: int = 0,
    agent_id: str | None = "A1001",
    agent_name: str | None = "王芳",
    team: str | None = "抢修一组",
    start_time: datetime | None = None,
    audio_path: str | None = None,
    rubrics_dir: Path | None = None,
    scorer: Scorer | None = None,
) -> CallResult:
    """One scored (and PII-redacted) call built from ``DIALOGUES[dialogue]``."""
    from qa_pipeline.config import PROJECT_ROOT

    opening, customer, closing = DIALOGUES[dialogue % len(DIALOGUES)]
    t = Transcript(
        "zh",
        12.0,
        (
            _utt(1, Role.AGENT, 0.5, 4.0, opening),
            _utt(2, Role.CUSTOMER, 4.5, 7.5, customer),
            _utt(3, Role.AGENT, 8.0, 11.0, closing),
        ),
    )
    start_time = start_time or datetime(2026, 11, 20, 1, 15, tzinfo=timezone.utc)
    m = CallMetadata(call_id=call_id, agent_id=agent_id, agent_name=agent_name, team=team, start_time=start_time)
    scorer = scorer or Scorer(find_rubric("basic_zh", rubrics_dir or PROJECT_ROOT / "rubrics"))
    ctx = CallContext(transcript=t, metrics=compute_metrics(t), metadata=m)
    card = scorer(ctx)
    result = CallResult(
        call_id=call_id,
        duration_s=12.0,
        language="zh",
        metadata=m,
        audio=AudioInfo(path=audio_path or f"/calls/{call_id}.wav", sha256=_sha256(audio_path), format="WAV", subtype="PCM_16", sample_rate=8000, channels=2, duration_s=12.0),
        transcript=t,
        metrics=ctx.metrics,
        scorecard=card,
        flags=scorer.flags(card, ctx),
        versions=Versions(
            __version__, SCHEMA_VERSION, "faster-whisper-base@synthetic", card.rubric_id, card.rubric_version,
            RunOptions(rubric_sha=scorer.rubric.fingerprint),
        ),
        scored_at=start_time + timedelta(hours=1),
        result_key=f"{'ab' * 8}-{call_id}",
    )
    return redact_result(result, Redactor())


def _sha256(audio_path: str | None) -> str:
    """The real file's sha256 when ``audio_path`` exists (the web app serves only verified audio)."""
    if audio_path and Path(audio_path).is_file():
        from qa_pipeline.audio import file_sha256

        return file_sha256(Path(audio_path))
    return "ab" * 32


def synthetic_results(n: int, *, seed: int = 7, agents: int = 40, teams: int = 5, audio_path: str | None = None) -> Iterator[CallResult]:
    """``n`` results spread over agents, teams and 90 days (templates scored once, then copied)."""
    rng = random.Random(seed)
    templates = [make_result("template", dialogue=d, audio_path=audio_path) for d in range(len(DIALOGUES))]
    base = datetime(2026, 8, 1, tzinfo=timezone.utc)
    for k in range(n):
        a = rng.randrange(agents)
        tpl = templates[rng.randrange(len(templates))]
        call_id = f"syn{k:06d}"
        start = base + timedelta(minutes=rng.randrange(90 * 24 * 60))
        meta = replace(tpl.metadata, call_id=call_id, agent_id=f"A{2000 + a}", agent_name=f"Agent {a}", team=f"Team {a % teams}", start_time=start)
        yield replace(
            tpl,
            call_id=call_id,
            metadata=meta,
            audio=replace(tpl.audio, path=audio_path or f"/calls/{call_id}.wav"),
            scored_at=start + timedelta(hours=1),
            result_key=f"{'ab' * 8}-{call_id}",
        )


def save_all(store: object, results: Sequence[CallResult] | Iterator[CallResult]) -> int:
    """Save results through ``ResultStore.save``; returns how many were given."""
    n = 0
    for r in results:
        store.save(r)  # type: ignore[attr-defined]
        n += 1
    return n
