"""The web app's typed contract: every JSON response of /openapi.json names a schema, and the real
responses of the seeded app (SQLite, no mocks) validate against their models and keep their wire
format (a model round trip gives the same JSON back)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, TypeAdapter
from test_web import client_for, web  # noqa: F401  (the seeded web app fixture)

from qa_pipeline.records import Evidence, Warmth, WarmthComponent
from qa_pipeline.web import schemas
from qa_testkit.web_results import make_result


def _typed(schema: dict[str, Any]) -> bool:
    """A schema that says something: a $ref, an array of typed items, a typed map, or a scalar type."""
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return _typed(schema.get("items") or {})
    if schema.get("type") == "object":
        extra = schema.get("additionalProperties")
        return bool(schema.get("properties")) or (isinstance(extra, dict) and _typed(extra))
    if "anyOf" in schema or "oneOf" in schema:
        return all(_typed(s) for s in schema.get("anyOf") or schema.get("oneOf"))
    return schema.get("type") in ("string", "integer", "number", "boolean", "null")


def untyped_json_responses(spec: dict[str, Any]) -> list[str]:
    """``METHOD path`` of every operation whose 200 response is (or defaults to) JSON without a schema."""
    bad = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            ok = op.get("responses", {}).get("200")
            if ok is None:
                bad.append(f"{method.upper()} {path} (no 200 response)")
                continue
            content = ok.get("content") or {}
            if not content:
                bad.append(f"{method.upper()} {path} (200 without content)")
            for media, body in content.items():
                if "json" in media and not _typed(body.get("schema") or {}):
                    bad.append(f"{method.upper()} {path}")
    return bad


def test_every_json_200_response_names_a_schema(web) -> None:  # noqa: F811
    spec = client_for(web).get("/openapi.json").json()
    assert len(spec["paths"]) >= 25
    assert untyped_json_responses(spec) == []
    ok = spec["paths"]["/api/calls/{call_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/CallView"}
    # downloads say what they are instead of an empty JSON body
    assert "text/csv" in spec["paths"]["/api/coaching/teams.csv"]["get"]["responses"]["200"]["content"]
    assert "audio/*" in spec["paths"]["/api/calls/{call_id}/audio"]["get"]["responses"]["200"]["content"]


def test_the_schema_walker_catches_an_untyped_route() -> None:
    app = FastAPI()

    @app.get("/loose")
    def loose() -> dict[str, Any]:
        return {}

    @app.get("/tight", response_model=schemas.StatusOut)
    def tight() -> dict[str, str]:
        return {"status": "ok"}

    assert untyped_json_responses(app.openapi()) == ["GET /loose"]


def _same(model: Any, body: Any) -> None:
    """``body`` validates against ``model`` and dumps back to itself (no key lost, none renamed)."""
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    assert adapter.dump_python(adapter.validate_python(body), mode="json") == body


def test_real_responses_validate_against_their_models(web) -> None:  # noqa: F811
    admin = client_for(web, "admin")
    call = admin.get("/api/calls/c_rude").json()
    view = schemas.CallView.model_validate(call)
    assert view.scorecard.total == call["scorecard"]["total"] and view.review.state.value == "unreviewed"
    _same(schemas.CallView, call)
    reviewed = admin.post("/api/calls/c_rude/overrides", json={"item_id": call["scorecard"]["items"][0]["id"], "agree": False}).json()
    _same(schemas.CallView, reviewed)
    assert schemas.CallView.model_validate(reviewed).overrides
    _same(schemas.CallView, admin.post("/api/calls/c_rude/review", json={"state": "reviewed"}).json())  # opens the appeal window
    agent = client_for(web, "wang")
    failed = next(k for k, v in reviewed["final_outcomes"].items() if v == "fail")
    appealed = agent.post("/api/calls/c_rude/appeals", json={"item_id": failed, "reason": "I did greet"})
    assert appealed.status_code == 200, appealed.text
    _same(schemas.CallView, appealed.json())
    typed: list[tuple[Any, str]] = [
        (schemas.MeOut, "/api/me"),
        (schemas.QueuePage, "/api/queue?flagged_only=false&review=all"),
        (list[schemas.CalibrationRow], "/api/calibration"),
        (schemas.AgentDashboard, "/api/coaching/agents/A1001"),
        (list[schemas.TeamMember], "/api/coaching/teams"),
        (list[schemas.SearchResult], "/api/search?q=烦不烦"),
        (list[schemas.AuditEntry], "/api/audit"),
        (list[schemas.AppealListItem], "/api/appeals?state=all"),
        (schemas.LiveCalls, "/api/live/calls"),
        (schemas.AnalyticsDashboard, "/api/analytics/dashboard?date_from=2026-10-01&date_to=2026-12-31"),
        (schemas.CallAnalytics, "/api/analytics/calls/c_rude"),
    ]
    for model, url in typed:
        r = admin.get(url)
        assert r.status_code == 200, (url, r.text)
        assert r.json(), url
        _same(model, r.json())
    queue = schemas.QueuePage.model_validate(admin.get("/api/queue?flagged_only=false&review=all").json())
    assert queue.total == 5 and all(isinstance(i, BaseModel) for i in queue.items)


def test_warmth_trend_and_panel_read_the_warmth_record(web) -> None:  # noqa: F811
    """The one warmth shape (:class:`Warmth`, overall score ``total``) feeds the coaching trend and the review page."""
    settings, store = web
    audio = store.latest("c_good").audio.path
    comp = WarmthComponent(id="greeting", name="warm greeting", score=0.9, weight=20.0, points=18.0, applicable=True,
                           reason="warm greeting", evidence=(Evidence(start=0.5, end=1.5, quote="您好"),))  # fmt: skip
    r = make_result("w_warm", dialogue=0, agent_id="A3003", team="抢修一组", audio_path=audio,
                    start_time=datetime(2026, 11, 9, 9, 0, tzinfo=timezone.utc))  # fmt: skip
    store.save(replace(r, warmth=Warmth(total=72.5, level="warm", components=(comp,))))
    admin = client_for(web, "admin")
    dash = schemas.AgentDashboard.model_validate(admin.get("/api/coaching/agents/A3003").json())
    assert [(w.call_id, w.warmth) for w in dash.warmth_trend] == [("w_warm", 72.5)]
    assert schemas.CallView.model_validate(admin.get("/api/calls/w_warm").json()).warmth == Warmth(total=72.5, level="warm", components=(comp,))
    page = admin.get("/calls/w_warm").text
    assert 'id="warmth"' in page and "72.5" in page and "18.0/20.0" in page
    assert 'id="warmth-trend"' in admin.get("/coaching/A3003").text
