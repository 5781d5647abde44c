"""The VAN stand-in keeps the rules of VAN's published reference (tests/data/van_api/SOURCES.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.van_api import Action, VanStandIn, basic_auth, running, stop

KEY = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def van() -> Iterator[VanStandIn]:
    with running(VanStandIn(app_name="app", api_keys=frozenset({KEY}), page_size=2)) as v:
        yield v


def post(
    van: VanStandIn, body: Any, person: str = "123", mode: int = 1, **kw: Any
) -> httpx.Response:
    headers = {"Authorization": basic_auth("app", KEY, mode)} | kw.pop("headers", {})
    return httpx.post(
        f"{van.url}/v4/people/{person}/canvassResponses", json=body, headers=headers, **kw
    )


DOOR = {"canvassContext": {"contactTypeId": 2, "inputTypeId": 11}, "resultCodeId": 1}


def test_a_valid_body_is_recorded_with_204(van: VanStandIn) -> None:
    r = post(van, DOOR, person="stateFileId:PA1", mode=0)
    assert r.status_code == 204 and r.content == b""
    [got] = van.recorded()
    assert (got.person, got.body, got.app_name, got.mode) == ("stateFileId:PA1", DOOR, "app", 0)


@pytest.mark.parametrize(
    "auth",
    [
        None,
        basic_auth("other-app", KEY, 1),
        basic_auth("app", "not-the-key", 1),
        basic_auth("app", KEY, 2),
        "Basic %%%",
        "Bearer " + KEY,
    ],
)
def test_without_the_application_name_and_key_mode_it_answers_401(
    van: VanStandIn, auth: str | None
) -> None:
    headers = {"Authorization": auth} if auth else {}
    r = httpx.post(f"{van.url}/v4/people/1/canvassResponses", json=DOOR, headers=headers)
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert van.recorded() == []


@pytest.mark.parametrize(
    ("body", "prop"),
    [
        (
            {
                "resultCodeId": 14,
                "responses": [{"type": "ActivistCode", "activistCodeId": 4482459}],
            },
            "resultCodeId",
        ),
        ({"canvassContext": {"contactTypeId": 2}}, "resultCodeId"),
        ({"resultCodeId": 999}, "resultCodeId"),
        (
            {"canvassContext": {"contactTypeId": 999}, "resultCodeId": 1},
            "canvassContext.contactTypeId",
        ),
        ({"canvassContext": {"inputTypeId": 999}, "resultCodeId": 1}, "canvassContext.inputTypeId"),
        ({"canvassContext": {"contactTypeId": 37}, "resultCodeId": 130}, "canvassContext.phone"),
        ({"canvassContext": {"contactTypeId": 1}, "resultCodeId": 18}, "canvassContext.phone"),
        (
            {"canvassContext": {"dateCanvassed": "yesterday"}, "resultCodeId": 1},
            "canvassContext.dateCanvassed",
        ),
        (
            {
                "responses": [
                    {"type": "SurveyResponse", "surveyQuestionId": 378552, "surveyResponseId": 1}
                ]
            },
            "responses[0].surveyResponseId",
        ),
        (
            {
                "responses": [
                    {"type": "SurveyResponse", "surveyQuestionId": 1, "surveyResponseId": 1}
                ]
            },
            "responses[0].surveyQuestionId",
        ),
        (
            {"responses": [{"type": "ActivistCode", "activistCodeId": 1}]},
            "responses[0].activistCodeId",
        ),
        ({"responses": [{"type": "Tag", "id": 1}]}, "responses[0].type"),
    ],
)
def test_a_body_breaking_a_rule_gets_400_in_vans_error_shape(
    van: VanStandIn, body: dict[str, Any], prop: str
) -> None:
    r = post(van, body)
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error["code"] == "INVALID_PARAMETER" and error["text"]
    assert error["properties"] == [prop]
    assert van.recorded() == []


def test_responses_without_a_result_and_a_phone_for_texts_are_accepted(van: VanStandIn) -> None:
    body = {
        "canvassContext": {
            "contactTypeId": 37,
            "phone": {"dialingPrefix": "1", "phoneNumber": "5555550100"},
        },
        "resultCodeId": None,
        "responses": [
            {"type": "SurveyResponse", "surveyQuestionId": 378552, "surveyResponseId": 1555791},
            {"type": "ActivistCode", "activistCodeId": 4482459, "action": "Apply"},
        ],
    }
    assert post(van, body).status_code == 204
    assert van.recorded()[0].body == body


def test_a_bad_person_is_refused(van: VanStandIn) -> None:
    assert post(van, DOOR, person="abc").status_code == 404
    assert post(van, DOOR, person="nosuchtype:1").status_code == 400


def test_scripted_429_and_5xx_answer_without_recording(van: VanStandIn) -> None:
    van.script(Action("error", status=429, retry_after=3), Action("error", status=503))
    first, second, third = post(van, DOOR), post(van, DOOR), post(van, DOOR)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "3")
    assert first.json()["errors"][0]["code"] == "TOO_MANY_REQUESTS"
    assert second.status_code == 503 and "errors" in second.json()
    assert third.status_code == 204
    assert len(van.recorded()) == 1
    assert van.statuses() == [429, 503, 204]


def test_a_slow_answer_times_the_client_out_but_the_contact_is_recorded(van: VanStandIn) -> None:
    van.script(Action("slow", delay=1.0))
    with pytest.raises(httpx.ReadTimeout):
        post(van, DOOR, timeout=0.2)
    assert len(van.recorded()) == 1


@pytest.mark.parametrize("accept", [True, False])
def test_a_dropped_connection_gives_no_answer(van: VanStandIn, accept: bool) -> None:
    van.script(Action("drop", accept=accept))
    with pytest.raises(httpx.TransportError):
        post(van, DOOR)
    assert len(van.recorded()) == (1 if accept else 0)
    assert post(van, DOOR).status_code == 204  # the next request is served as usual


def test_its_own_rate_limit_answers_429_with_retry_after() -> None:
    with running(VanStandIn(app_name="app", api_keys=frozenset({KEY}), rate_limit=2)) as van:
        codes = [post(van, DOOR).status_code for _ in range(3)]
        assert codes == [204, 204, 429]
        assert len(van.recorded()) == 2


def test_lookups_are_served_and_paged(van: VanStandIn) -> None:
    auth = {"Authorization": basic_auth("app", KEY, 1)}
    codes = httpx.get(f"{van.url}/v4/canvassResponses/resultCodes", headers=auth).json()
    assert {"resultCodeId": 18, "name": "Busy", "mediumName": "Busy", "shortName": "BZ"} in codes
    page = httpx.get(f"{van.url}/v4/surveyQuestions", headers=auth).json()
    assert page["count"] == 3 and len(page["items"]) == 2 and page["nextPageLink"]
    rest = httpx.get(page["nextPageLink"], headers=auth).json()
    assert len(rest["items"]) == 1 and rest["nextPageLink"] is None
    assert httpx.get(f"{van.url}/v4/activistCodes").status_code == 401


def test_when_stopped_it_refuses_connections() -> None:
    with running(VanStandIn(app_name="app", api_keys=frozenset({KEY}))) as van:
        stop(van)
        with pytest.raises(httpx.ConnectError):
            post(van, DOOR)
