"""The data dictionary is generated from the schemas and committed up to date."""

from pathlib import Path

from schemas.docgen import render

ROOT = Path(__file__).resolve().parents[2]


def test_committed_data_dictionary_is_current() -> None:
    committed = (ROOT / "docs" / "data-standard.md").read_text(encoding="utf-8")
    assert committed == render(), "run `fieldstream docs` and commit docs/data-standard.md"


def test_every_schema_field_is_documented() -> None:
    page = render()
    for name in ("event_id", "race_source", "reason_code", "voter_matched", "support_level"):
        assert f"`{name}`" in page
    assert "`lit_drop`" in page and "`bisg`" in page


def test_committed_result_codes_page_is_current() -> None:
    from producers.tools.docgen import render as render_codes

    committed = (ROOT / "docs" / "result-codes.md").read_text(encoding="utf-8")
    assert committed == render_codes(), "run `fieldstream docs` and commit docs/result-codes.md"


def test_result_codes_page_names_every_tool_and_code() -> None:
    from producers.tools.docgen import render as render_codes

    page = render_codes()
    from producers.tools.registry import tools

    assert {"van", "spoke", "callhub", "hustle", "mobilize", "csv"} <= tools().keys()
    for tool in tools().values():
        if tool.name != "canonical":
            assert f"## {tool.title}" in page
    assert "| 14 | Canvassed | `canvassed` |" in page
    assert "`do_not_text`" in page and "once per person, campaign and day" in page


def test_every_tool_route_is_served_by_the_gateway() -> None:
    """Each tool's own route is built from the one RouteContext and mounted on the app."""
    from core.settings import GatewaySettings, KafkaSettings
    from producers.gateway.app import create_app
    from producers.tools.registry import tools

    app = create_app(sources={}, kafka=KafkaSettings(), gateway=GatewaySettings())
    paths = {getattr(r, "path", "") for r in app.routes}
    own = [t for t in tools().values() if t.route is not None]
    assert {"van", "osdi"} <= {t.name for t in own}
    assert "/v4/people/{person:path}/canvassResponses" in paths  # an empty id too: a 400
    assert any(p.startswith("/osdi/") for p in paths)
