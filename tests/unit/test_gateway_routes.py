"""The gateway's route helpers: VAN's Basic auth and person ids, tokens, scrubbed dead letters."""

from __future__ import annotations

import base64

import orjson
import pytest

from core.config import SourceConfig
from producers.gateway.hooks import confirmation_headers, scrubbed
from producers.gateway.intake import Refused
from producers.tools.registry import context_for
from producers.tools.van.route import basic_source, split_person, van_error

SOURCES = {
    "van-app": SourceConfig.model_validate(
        {"id": "van-app", "org_id": "o", "secrets": ["k1", "k2"], "tool": "van"}
    ),
    "spoke": SourceConfig.model_validate(
        {"id": "spoke", "org_id": "o", "secrets": ["k1"], "tool": "spoke"}
    ),
}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("password", ["k1", "k2", "k1|1", "k2|0"])
def test_van_basic_auth_takes_any_secret_with_or_without_the_db_mode(password: str) -> None:
    source = basic_source(SOURCES, basic("van-app", password))
    assert source is not None and source.id == "van-app"


@pytest.mark.parametrize(
    "authorization",
    [
        basic("van-app", "wrong|1"),
        basic("van-app", "k1|2"),  # not a db mode: the whole string is the key
        basic("van-app", ""),
        basic("spoke", "k1"),  # not a VAN source
        basic("nobody", "k1"),
        "Bearer k1",
        "Basic !!!not-base64",
        "",
    ],
)
def test_van_basic_auth_refuses(authorization: str) -> None:
    assert basic_source(SOURCES, authorization) is None


def test_person_path_forms() -> None:
    assert split_person("8675309") == ("vanid", "8675309")
    assert split_person("stateFileId:PA123") == ("stateFileId", "PA123")


def test_van_errors_have_vans_shape() -> None:
    response = van_error(
        Refused(400, "bad_payload", "x is wrong", [{"index": 0, "field": "resultCodeId"}])
    )
    assert response.status_code == 400
    assert orjson.loads(response.body) == {
        "errors": [
            {"code": "INVALID_PARAMETER", "text": "x is wrong", "properties": ["resultCodeId"]}
        ]
    }


def test_spoke_dead_letters_never_keep_the_organizations_settings() -> None:
    payload = {"contact": {"id": 1}, "organization": {"features": "twilio secrets"}}
    kept = scrubbed("spoke", payload, orjson.dumps(payload))
    assert orjson.loads(kept) == {"contact": {"id": 1}}
    body = orjson.dumps({"a": 1})
    assert scrubbed("spoke", {"a": 1}, body) is body
    assert scrubbed("callhub", payload, b"raw") == b"raw"


def test_hustle_ownership_confirmation_header() -> None:
    hustle = SourceConfig.model_validate(
        {"id": "h", "org_id": "o", "secrets": ["s"], "tool": "hustle", "options": {"account_id": 7}}
    )
    assert confirmation_headers(hustle) == {"hustle-webhook-confirmation": "7"}
    assert confirmation_headers(SOURCES["spoke"]) == {}


def test_van_sources_get_their_code_map() -> None:
    ctx = context_for(SOURCES["van-app"])
    assert ctx.options["codes"].result_codes[14].result == "canvassed"
    assert ctx.source_system == "van" and ctx.org_id == "o"
