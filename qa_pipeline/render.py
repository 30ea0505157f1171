"""Rich renderables for the terminal: the batch table and a call's transcript + scorecard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .batch.sinks import CallOutcome
from .records import CallResult, Flag, Outcome, Role, Scorecard, Transcript

if TYPE_CHECKING:
    from .review import ReviewedResult
    from .store import ScorecardVersion

_ROLE_STYLE = {Role.AGENT: "cyan", Role.CUSTOMER: "magenta", Role.UNKNOWN: "white"}
_OUTCOME_STYLE = {Outcome.PASS: "green", Outcome.FAIL: "bold red", Outcome.NA: "dim"}
_MARK = {Outcome.PASS: "✔", Outcome.FAIL: "✘", Outcome.NA: "–"}


def _clock(seconds: float) -> str:
    m, s = divmod(max(seconds, 0.0), 60)
    return f"{int(m):02d}:{s:04.1f}"


def outcome_table(outcomes: Sequence[CallOutcome]) -> Table:
    table = Table(title="Scored calls", show_lines=False)
    columns: list[tuple[str, dict[str, Any]]] = [
        # the call id is what `qa show CALL_ID` needs: never cut it
        ("call", {"no_wrap": True, "min_width": 12}),
        ("agent", {}),
        ("duration", {"justify": "right"}),
        ("total", {"justify": "right"}),
        ("failed items", {}),
        ("flags", {}),
        # this run's work: scored now, or the stored result of an earlier run (idempotent batches)
        ("run", {"no_wrap": True}),
    ]
    for col, kw in columns:
        table.add_column(col, **kw)
    # by call id, not in completion order (which changes from run to run with the workers)
    for o in sorted(outcomes, key=lambda o: o.call_id or o.name):
        if o.result is None and o.status == "skipped":  # claimed by a concurrent batch
            table.add_row(o.call_id or o.name, "", "", "", "", Text(o.error or "", style="dim"), Text("skipped", style="dim"))
            continue
        if o.result is None:
            table.add_row(o.call_id or o.name, "", "", Text("error", style="bold red"), "", Text(o.error or "", style="red"),
                          Text("failed", style="bold red"))  # fmt: skip
            continue
        r = o.result
        agent = r.metadata.agent_name or r.metadata.agent_id or "?"
        failed = ", ".join(i.id for i in r.scorecard.failed) or "-"
        flags = ", ".join(f.id for f in r.flags) or "-"
        total_style = "bold red" if r.scorecard.fatal_failed else ("yellow" if any(f.id == "low_score" for f in r.flags) else "green")
        table.add_row(
            r.call_id,
            agent,
            f"{r.duration_s:.1f} s",
            Text(f"{r.scorecard.total:g}", style=total_style),
            failed,
            flags,
            Text("already scored", style="dim") if o.status == "skipped" else "scored",
        )
    return table


def render_call(console: Console, r: CallResult) -> None:
    m = r.metadata
    console.rule(f"[bold]{r.call_id}[/]")
    console.print(
        f"agent {m.agent_name or '-'} ({m.agent_id or '-'}) · team {m.team or '-'} · queue {m.queue or '-'} · "
        f"{m.direction} · {r.language} · {r.duration_s:.1f} s · {r.audio.channels} ch {r.audio.sample_rate} Hz {r.audio.subtype}"
    )
    render_transcript(console, r.transcript)

    mt = r.metrics
    talk = ", ".join(f"{k} {v:.0%}" for k, v in mt.talk_share.items())
    rate = f"{mt.agent_speaking_rate:g} {mt.speaking_rate_unit}" if mt.agent_speaking_rate is not None else "-"
    console.print(
        f"[bold]Metrics[/] talk share {talk} · silence {mt.silence_total_s:.1f} s (longest {mt.silence_longest_s:.1f} s) · "
        f"overtalk {mt.overtalk_count}× {mt.overtalk_s:.1f} s · agent interruptions {mt.agent_interruptions} · agent rate {rate}"
    )

    render_sentiment(console, r)
    render_scorecard(console, r.scorecard, r.flags)
    v = r.versions
    console.print(f"[dim]pipeline {v.pipeline} · schema {v.schema} · asr {v.asr_model} · rubric {v.rubric_id} {v.rubric_version} · scored {r.scored_at:%Y-%m-%d %H:%M:%S} UTC[/]")


def render_sentiment(console: Console, r: CallResult) -> None:
    s, w = r.sentiment, r.warmth
    if s is not None:
        quarters = " ".join("–" if q is None else f"{q:+.2f}" for q in s.customer_quarters)
        console.print(
            f"[bold]Customer sentiment[/] start {s.customer_start:+.2f} → end {s.customer_end:+.2f} "
            f"({s.change_label}, {s.customer_change:+.2f}) · by quarter {quarters}"
        )
        # the customer's own low points, under the customer's heading (agent lines have their own)
        for m in [m for m in s.negative_moments if m.role is Role.CUSTOMER][:3]:
            console.print(Text(f"        {_clock(m.evidence.start)}  {m.score:+.2f}  ", style="dim") + Text(m.evidence.quote, style="italic"))
    if w is not None:
        parts = " · ".join(f"{c.name} {c.points:g}/{c.weight:g}" for c in w.components if c.applicable)
        console.print(f"[bold]Service warmth[/] {w.total:g} ({w.level}) — {parts}")


def render_transcript(console: Console, transcript: Transcript) -> None:
    table = Table(title="Transcript", show_header=True, expand=True)
    table.add_column("time", no_wrap=True)
    table.add_column("who", no_wrap=True)
    table.add_column("text", ratio=1)
    for u in transcript.utterances:
        table.add_row(f"{_clock(u.start)}–{_clock(u.end)}", Text(u.role.value, style=_ROLE_STYLE[u.role]), u.text)
    console.print(table)


def render_scorecard(console: Console, card: Scorecard, flags: Sequence[Flag]) -> None:
    console.print()
    extra = f" · compliance {card.compliance:g}" if card.compliance is not None else ""
    review = " · [red]needs review[/]" if card.needs_review else ""
    console.print(f"[bold]Scorecard[/] {card.rubric_id} v{card.rubric_version}: total [bold]{card.total:g}[/]{extra}{review}")
    for item in card.items:
        line = Text("  ")
        line.append(f"{_MARK[item.outcome]} {item.outcome.value:4}", style=_OUTCOME_STYLE[item.outcome])
        line.append(f" {item.points:>4g}/{item.weight:<4g} ")
        line.append(item.name, style="bold")
        if item.fatal:
            line.append(" [fatal]", style="red")
        line.append(f" — {item.reason}")
        console.print(line)
        for ev in item.evidence:
            evidence = Text(f"        {_clock(ev.start)}–{_clock(ev.end)}  ", style="dim")
            evidence.append(ev.quote, style="italic")
            console.print(evidence)
    if card.sections:
        console.print(
            "[bold]Sections[/] "
            + " · ".join(f"{s.name} {s.percent:g}%" if s.percent is not None else f"{s.name} n/a" for s in card.sections)
        )
    for f in flags:
        # reasons carry literal [brackets] (check versions such as [fatal-context-1]): never markup
        console.print(f"[bold red]flag[/] {f.id} (priority {f.priority}): {escape(f.reason)}")


def render_review(console: Console, r: "ReviewedResult") -> None:
    """The review of a result: final vs automatic score, state, verdicts and appeals."""
    state = {"unreviewed": "not reviewed", "in_review": "in review", "reviewed": f"reviewed by {r.reviewed_by}"}[r.state.value]
    console.print(
        f"[bold]Final score[/] {r.final.total:g}"
        f"{' (fatal item failed)' if r.final.fatal_failed else ''} · automatic {r.result.scorecard.total:g} · {state}"
    )
    for item_id, o in r.overrides.items():
        verdict = "agrees" if o.agree else f"{o.auto_outcome} -> {o.human_outcome}"
        console.print(f"  {escape(item_id)}: {escape(o.reviewer)} {verdict}{escape(f' ({o.comment})') if o.comment else ''}")
    for a in r.appeals:
        console.print(f"  appeal #{a.id} {escape(a.item_id)} by {escape(a.agent)}: {a.state}{escape(f' ({a.decision_comment})') if a.decision_comment else ''}")


def render_history(console: Console, call_id: str, versions: "list[ScorecardVersion]") -> None:
    """Every stored scorecard of a call, the current one marked."""
    table = Table(title=f"scorecards of {call_id}")
    for col in ("", "result", "rubric", "automatic", "final", "review", "scored"):
        table.add_column(col)
    for v in versions:
        table.add_row(
            "current" if v.current else "", v.result_key, f"{v.rubric_id} {v.rubric_version}", f"{v.total:g}",
            f"{v.final_total:g}", v.review_state, f"{v.scored_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)
