"""share(): only what an agreement names leaves, as pseudonyms, truncated, in the partner schema."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import CONTACT_EVENT, ENRICHED_CONTACT, VOTER, AvroCodec
from schemas.codec import AVRO_DIR
from streams.exchange import (
    SHARED_CONTACT,
    STRUCTURAL,
    Agreement,
    KeyRing,
    PseudonymKey,
    parse_agreements,
    share,
    voter_pseudonym,
)
from streams.exchange.agreements import Precision
from streams.exchange.pseudonym import canvasser_pseudonym
from streams.exchange.share import truncate

UTC = dt.UTC
CODEC = AvroCodec()
NOW = dt.datetime(2026, 10, 3, 18, 0, tzinfo=UTC)
KEYS = KeyRing(
    (
        PseudonymKey.model_validate(
            {
                "id": "k1",
                "secret": "1" * 40,
                "valid_from": "2020-01-01",
                "valid_until": "2026-07-01",
            }
        ),
        PseudonymKey.model_validate({"id": "k2", "secret": "2" * 40, "valid_from": "2026-07-01"}),
    )
)
PHONE = "2155550142"


def agreement(**fields: Any) -> Agreement:
    data = {
        "id": "sp-2026",
        "partner": "state-party",
        "valid_from": "2026-01-01",
        "valid_until": "2027-01-01",
        "share": [{"org": "org-a", "campaigns": ["gotv"]}],
        "fields": {"timestamps": "day", **fields},
    }
    return Agreement.model_validate(data)


FULL = agreement(
    timestamps="minute",
    channel=True,
    result=True,
    survey_questions=["q-issue"],
    support_levels=["q-support"],
    activist_codes=["volunteer"],
    canvasser=True,
    geography="precinct",
    demographics=["age_band", "sex", "race", "ethnicity"],
)


def contact(**over: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "event_id": "4f1f6c1e-8a7b-4c41-9c1e-2f3a4b5c6d7e",
        "source_system": "van",
        "source_event_id": f"tel:{PHONE}",
        "org_id": "org-a",
        "campaign_id": "gotv",
        "channel": "door",
        "contact_type": "walk",
        "input_method": "mobile_app",
        "occurred_at": dt.datetime(2026, 10, 3, 17, 42, 31, 250_000, tzinfo=UTC),
        "received_at": dt.datetime(2026, 10, 3, 17, 42, 32, tzinfo=UTC),
        "person": {"voter_id": "pa-000123", "state": "pa", "van_id": "991"},
        "canvasser_id": "c-17",
        "team_id": "team-9",
        "turf_id": "turf-4",
        "list_id": f"list {PHONE}",
        "result": "canvassed",
        "result_raw": f"Canvassed; call back {PHONE}",
        "responses": [
            {"question_id": "q-issue", "answer": "health care", "support_level": None},
            {"question_id": "q-support", "answer": "yes", "support_level": 1},
            {"question_id": "q-private", "answer": "union member", "support_level": 2},
        ],
        "activist_codes": ["volunteer", "donor"],
        "opt_out": False,
        "script_completed": True,
    }
    c.update(over)
    return c


VOTER_REC = {
    "voter_id": "PA-000123",
    "state": "PA",
    "county": "Philadelphia",
    "precinct": "PHL-27-04",
    "congressional_district": "PA-03",
    "state_senate_district": "1",
    "state_house_district": "181",
    "birth_year": 1984,
    "sex": "female",
    "race": "black",
    "race_source": "self_reported",
    "race_probability": None,
    "ethnicity": "not_hispanic",
    "ethnicity_source": "bisg",
    "ethnicity_probability": 0.93,
    "updated_at": dt.datetime(2026, 9, 1, tzinfo=UTC),
}


def enriched(voter: dict[str, Any] | None = VOTER_REC, **over: Any) -> dict[str, Any]:
    """An EnrichedContact as the stream decodes it (through the real codec)."""
    record = {
        "contact": contact(**over),
        "voter_matched": voter is not None,
        "voter": voter,
        "enriched_at": NOW,
    }
    return CODEC.decode(CODEC.encode(ENRICHED_CONTACT, record), expect=ENRICHED_CONTACT)[1]


def roundtrip(record: dict[str, Any]) -> dict[str, Any]:
    return CODEC.decode(CODEC.encode(SHARED_CONTACT, record), expect=SHARED_CONTACT)[1]


def test_full_agreement_shares_what_it_names_and_nothing_else() -> None:
    out = share(enriched(), FULL, KEYS, NOW)
    assert out is not None
    assert roundtrip(out)["shared_event_id"] == uuid.UUID(out["shared_event_id"])
    key = KEYS.by_id("k2")
    assert key is not None and out["key_id"] == "k2"
    assert out["person_pseudonym"] == voter_pseudonym(key, "PA", "PA-000123")
    assert out["person_id_kind"] == "state_voter_id"
    assert out["canvasser_pseudonym"] == canvasser_pseudonym(key, "org-a", "c-17")
    assert out["occurred_at"] == dt.datetime(2026, 10, 3, 17, 42, tzinfo=UTC)
    assert out["responses"] == [
        {"question_id": "q-issue", "answer": "health care", "support_level": None},
        {"question_id": "q-support", "answer": None, "support_level": 1},
    ]
    assert out["activist_codes"] == ["volunteer"]
    assert (out["state"], out["county"], out["precinct"]) == ("PA", "Philadelphia", "PHL-27-04")
    assert (out["age_band"], out["sex"], out["race"], out["race_source"]) == (
        "30-44",
        "female",
        "black",
        "self_reported",
    )
    assert (out["ethnicity"], out["ethnicity_source"]) == ("not_hispanic", "bisg")
    assert (out["sharing_org"], out["partner_id"], out["agreement_id"]) == (
        "org-a",
        "state-party",
        "sp-2026",
    )
    assert out["agreement_version"] == FULL.version


def test_a_bare_agreement_shares_only_the_structure() -> None:
    out = share(enriched(), agreement(), KEYS, NOW)
    assert out is not None
    governed = {k: v for k, v in out.items() if k not in STRUCTURAL}
    assert all(v in (None, []) for v in governed.values()), governed
    assert out["geography_level"] == "none"
    roundtrip(out)


@pytest.mark.parametrize(
    ("precision", "expected"),
    [
        ("day", dt.datetime(2026, 10, 3, tzinfo=UTC)),
        ("hour", dt.datetime(2026, 10, 3, 17, tzinfo=UTC)),
        ("minute", dt.datetime(2026, 10, 3, 17, 42, tzinfo=UTC)),
    ],
)
def test_timestamps_are_truncated(precision: str, expected: dt.datetime) -> None:
    terms = agreement(timestamps=precision)
    out = share(enriched(), terms, KEYS, NOW)
    later = share(enriched(), terms, KEYS, NOW.replace(second=59, microsecond=999))
    assert out is not None and later is not None
    assert out["occurred_at"] == expected and out["occurred_precision"] == precision
    # the sharing time is cut the same way: it would otherwise give the contact time away
    assert out["shared_at"] == later["shared_at"] == truncate(NOW, Precision(precision))
    # raw epoch milliseconds (an undecoded record) give the same answer
    millis = int(dt.datetime(2026, 10, 3, 17, 42, 31, 250_000, tzinfo=UTC).timestamp() * 1000)
    raw = enriched()
    raw["contact"]["occurred_at"] = millis
    from_millis = share(raw, terms, KEYS, NOW)
    assert from_millis is not None and from_millis["occurred_at"] == expected


def test_days_start_in_the_agreements_time_zone() -> None:
    evening = dt.datetime(2026, 10, 4, 0, 30, tzinfo=UTC)  # 8:30 pm on the 3rd in Philadelphia
    utc_day = share(enriched(occurred_at=evening), agreement(), KEYS, NOW)
    local = agreement(timezone="America/New_York")
    local_day = share(enriched(occurred_at=evening), local, KEYS, NOW)
    assert utc_day is not None and local_day is not None
    assert utc_day["occurred_at"] == dt.datetime(2026, 10, 4, tzinfo=UTC)
    assert local_day["occurred_at"] == dt.datetime(2026, 10, 3, 4, tzinfo=UTC)  # EDT midnight
    winter = truncate(dt.datetime(2026, 12, 1, 3, tzinfo=UTC), Precision.day, "America/New_York")
    assert winter == dt.datetime(2026, 11, 30, 5, tzinfo=UTC)  # EST midnight


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        ("none", set()),
        ("state", {"state"}),
        ("county", {"state", "county"}),
        ("congressional_district", {"state", "congressional_district"}),
        ("precinct", {"state", "county", "congressional_district", "precinct"}),
    ],
)
def test_geography_levels(level: str, shown: set[str]) -> None:
    out = share(enriched(), agreement(geography=level), KEYS, NOW)
    assert out is not None and out["geography_level"] == level
    geo = ("state", "county", "congressional_district", "precinct")
    assert {f for f in geo if out[f] is not None} == shown
    roundtrip(out)


def test_unmatched_contacts_share_state_from_the_person_and_no_demographics() -> None:
    out = share(enriched(voter=None), FULL, KEYS, NOW)
    assert out is not None
    assert out["state"] == "PA" and out["county"] is None and out["precinct"] is None
    assert all(out[f] is None for fs in DEMO_ORACLE.values() for f in fs)
    roundtrip(out)


def test_what_the_agreement_does_not_cover_is_not_shared() -> None:
    assert share(enriched(org_id="org-b"), FULL, KEYS, NOW) is None
    assert share(enriched(campaign_id="persuasion"), FULL, KEYS, NOW) is None
    assert share(enriched(), FULL, KEYS, dt.datetime(2025, 12, 31, tzinfo=UTC)) is None
    assert share(enriched(), FULL, KEYS, dt.datetime(2027, 1, 1, tzinfo=UTC)) is None
    assert share(enriched(), FULL, KEYS, dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC))


def test_firewall_refuses_what_a_star_would_let_through() -> None:
    loaded = parse_agreements(
        {
            "agreements": [
                {
                    "id": "sp",
                    "partner": "state-party",
                    "valid_from": "2026-01-01",
                    "valid_until": "2027-01-01",
                    "share": [{"org": "org-a", "campaigns": ["*"]}],
                    "fields": {"timestamps": "day"},
                }
            ],
            "firewall_groups": {
                "coordinated": {"partners": ["state-party"]},
                "independent": {"campaigns": ["org-a/ie-2026"]},
            },
            "never_share_between": [["coordinated", "independent"]],
        }
    )
    a = loaded.agreements[0]
    assert share(enriched(campaign_id="gotv"), a, KEYS, NOW) is not None
    assert share(enriched(campaign_id="ie-2026"), a, KEYS, NOW) is None


def test_same_voter_lines_up_across_orgs_and_partners_under_one_key() -> None:
    other = Agreement.model_validate(
        {
            **FULL.model_dump(),
            "id": "x",
            "partner": "labor",
            "share": [{"org": "org-b", "campaigns": ["*"]}],
        }
    )
    ours = share(enriched(), FULL, KEYS, NOW)
    theirs = share(
        enriched(
            org_id="org-b",
            event_id=str(uuid.uuid4()),
            person={"voter_id": " PA-000123", "state": "PA"},
        ),
        other,
        KEYS,
        NOW,
    )
    assert ours is not None and theirs is not None
    assert ours["person_pseudonym"] == theirs["person_pseudonym"]
    assert ours["canvasser_pseudonym"] != theirs["canvasser_pseudonym"]  # same id, other org
    assert ours["shared_event_id"] != theirs["shared_event_id"]


def test_resharing_gives_the_same_record_and_the_key_follows_the_contact_time() -> None:
    first = share(enriched(), FULL, KEYS, NOW)
    again = share(enriched(), FULL, KEYS, NOW + dt.timedelta(days=2))
    assert first is not None and again is not None
    assert {k: v for k, v in first.items() if k != "shared_at"} == {
        k: v for k, v in again.items() if k != "shared_at"
    }
    june = share(enriched(occurred_at=dt.datetime(2026, 6, 30, 23, 0, tzinfo=UTC)), FULL, KEYS, NOW)
    assert june is not None and june["key_id"] == "k1"
    assert june["person_pseudonym"] != first["person_pseudonym"]  # keys rotate pseudonyms


def _shared_schema() -> dict[str, Any]:
    return json.loads((AVRO_DIR / f"{SHARED_CONTACT}.avsc").read_text())


FORBIDDEN = (
    "phone", "email", "name", "first", "last", "address", "street", "zip", "note", "comment",
    "text_body", "message", "birth", "dob", "voter_id", "van_id", "source", "raw", "team",
    "turf", "list", "lat", "lon",
)  # fmt: skip


def test_no_field_of_shared_contact_can_carry_contact_details_or_notes() -> None:
    schema = _shared_schema()
    names = [f["name"] for f in schema["fields"]]
    (responses,) = [f for f in schema["fields"] if f["name"] == "responses"]
    names += [f["name"] for f in responses["type"]["items"]["fields"]]
    allowed_exceptions = {"race_source", "ethnicity_source", "sharing_org", "person_id_kind"}
    bad = [n for n in names if n not in allowed_exceptions and any(w in n for w in FORBIDDEN)]
    assert bad == []
    # every field is accounted for: structural, or governed by a named agreement term
    governed = {"channel", "result", "responses", "activist_codes", "canvasser_pseudonym"}
    governed |= {f for fs in GEO_ORACLE.values() for f in fs}
    governed |= {f for fs in DEMO_ORACLE.values() for f in fs}
    assert set(n for n in names[: len(schema["fields"])]) == STRUCTURAL | governed


def _enums(schema: Any, out: dict[str, Any]) -> None:
    if isinstance(schema, dict):
        if schema.get("type") == "enum":
            out[schema["name"]] = schema
        for v in schema.values():
            _enums(v, out)
    elif isinstance(schema, list):
        for v in schema:
            _enums(v, out)


def test_shared_enums_are_the_standards_own() -> None:
    ours: dict[str, Any] = {}
    _enums(_shared_schema(), ours)
    standard: dict[str, Any] = {}
    for name in (CONTACT_EVENT, VOTER):
        _enums(json.loads((AVRO_DIR / f"{name}.avsc").read_text()), standard)
    shared_names = {"Channel", "ResultCode", "Sex", "Race", "DemographicSource", "Ethnicity"}
    assert shared_names <= ours.keys()
    for name in shared_names:
        assert ours[name] == standard[name], name


def test_a_known_phone_number_cannot_be_found_in_what_is_shared() -> None:
    """The phone sits in every free-text place a tool might put it; nothing shared holds it
    or any plain hash of it: a dictionary of 10,000 neighbouring numbers hashed five ways
    finds no match (phones have no pseudonym at all, so not even the key would)."""
    record = enriched()
    record["contact"]["person"]["phone"] = PHONE  # fields outside the standard are ignored too
    record["contact"]["notes"] = f"call {PHONE}"
    record["contact"]["email"] = "voter@example.org"
    out = share(record, FULL, KEYS, NOW)
    assert out is not None
    text = json.dumps(out, default=str)
    assert PHONE not in text and "example.org" not in text and "health care" in text
    values = {str(v) for v in out.values()} | {json.dumps(v, default=str) for v in out.values()}
    values |= {str(r[k]) for r in out["responses"] for k in r}
    for n in range(2155545000, 2155555000):
        for form in (str(n), f"+1{n}", f"({str(n)[:3]}) {str(n)[3:6]}-{str(n)[6:]}"):
            b = form.encode()
            for h in (hashlib.sha256(b), hashlib.md5(b), hashlib.sha1(b)):
                assert h.hexdigest() not in values


# --- the property: nothing an agreement does not name is ever in the record -----------------

# the test's own reading of the terms (not the module's tables, so a wrong table fails here)
GEO_ORACLE = {
    "none": set(),
    "state": {"state"},
    "county": {"state", "county"},
    "congressional_district": {"state", "congressional_district"},
    "precinct": {"state", "county", "congressional_district", "precinct"},
}
DEMO_ORACLE = {
    "age_band": {"age_band"},
    "sex": {"sex"},
    "race": {"race", "race_source"},
    "ethnicity": {"ethnicity", "ethnicity_source"},
}
QUESTIONS = ["q1", "q2", "q3", "q4"]
CODES = ["a1", "a2", "a3"]

agreements_st = st.builds(
    lambda fields, org, campaigns: Agreement.model_validate(
        {
            "id": "random",
            "partner": "p",
            "valid_from": "2026-01-01",
            "valid_until": "2027-01-01",
            "share": [{"org": org, "campaigns": campaigns}],
            "fields": fields,
        }
    ),
    st.fixed_dictionaries(
        {
            "timestamps": st.sampled_from(["day", "hour", "minute"]),
            "channel": st.booleans(),
            "result": st.booleans(),
            "survey_questions": st.lists(st.sampled_from(QUESTIONS), unique=True),
            "support_levels": st.lists(st.sampled_from(QUESTIONS), unique=True),
            "activist_codes": st.lists(st.sampled_from(CODES), unique=True),
            "canvasser": st.booleans(),
            "geography": st.sampled_from(sorted(GEO_ORACLE)),
            "demographics": st.lists(st.sampled_from(sorted(DEMO_ORACLE)), unique=True),
        }
    ),
    st.sampled_from(["org-a", "org-b"]),
    st.sampled_from([["*"], ["gotv"], ["gotv", "other"]]),
)

maybe_text = st.none() | st.uuids().map(str)
responses_st = st.lists(
    st.fixed_dictionaries(
        {
            "question_id": st.sampled_from([*QUESTIONS, "q-secret"]),
            "answer": st.uuids().map(str),
            "support_level": st.none() | st.integers(1, 5),
        }
    ),
    max_size=5,
)
voters_st = st.none() | st.fixed_dictionaries(
    {
        "voter_id": st.uuids().map(str),
        "state": st.just("PA"),
        "county": maybe_text,
        "precinct": maybe_text,
        "congressional_district": maybe_text,
        "age": st.none() | st.integers(0, 110),
        "sex": st.sampled_from(["female", "male", "other", "unknown"]),
        "race": st.sampled_from(["white", "black", "latino", "unknown"]),
        "race_source": st.sampled_from(["self_reported", "bisg", "unknown"]),
        "ethnicity": st.sampled_from(["hispanic", "not_hispanic", "unknown"]),
        "ethnicity_source": st.sampled_from(["vendor_model", "unknown"]),
        "updated_at": st.just(NOW),
    }
)
events_st = st.fixed_dictionaries(
    {
        "voter": voters_st,
        "org_id": st.sampled_from(["org-a", "org-b"]),
        "campaign_id": st.sampled_from(["gotv", "other", "third"]),
        "occurred_at": st.datetimes(
            min_value=dt.datetime(2026, 1, 1),
            max_value=dt.datetime(2026, 12, 31),
            timezones=st.just(UTC),
        ),
        "person": st.fixed_dictionaries(
            {
                "voter_id": maybe_text,
                "state": st.sampled_from([None, "PA"]),
                "van_id": st.none() | st.integers(1, 10**9).map(str),
            }
        ),
        "canvasser_id": maybe_text,
        "responses": responses_st,
        "activist_codes": st.lists(st.sampled_from([*CODES, "secret-code"]), max_size=4),
        "event_id": st.uuids().map(str),
        "source_event_id": st.uuids().map(str),
        "result_raw": st.uuids().map(str),
        "turf_id": maybe_text,
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=agreements_st, event=events_st)
def test_property_nothing_unnamed_leaves(a: Agreement, event: dict[str, Any]) -> None:
    voter = event.pop("voter")
    record = enriched(voter=voter, **event)
    out = share(record, a, KEYS, NOW)
    c = record["contact"]
    covered = c["org_id"] in {s.org for s in a.share} and (
        "*" in a.share[0].campaigns or c["campaign_id"] in a.share[0].campaigns
    )
    assert (out is not None) == covered
    if out is None:
        return
    roundtrip(out)  # Avro-ready
    rules = a.fields
    assert set(out) == {f["name"] for f in _shared_schema()["fields"]}
    # each governed field is set only when the agreement names it
    assert out["channel"] is None or rules.channel
    assert out["result"] is None or rules.result
    assert out["canvasser_pseudonym"] is None or rules.canvasser
    for r in out["responses"]:
        assert r["question_id"] in set(rules.survey_questions) | set(rules.support_levels)
        assert r["answer"] is None or r["question_id"] in rules.survey_questions
        assert r["support_level"] is None or r["question_id"] in rules.support_levels
    assert set(out["activist_codes"]) <= set(rules.activist_codes)
    for f in ("state", "county", "congressional_district", "precinct"):
        assert out[f] is None or f in GEO_ORACLE[rules.geography.value]
    for name, fs in DEMO_ORACLE.items():
        for f in fs:
            assert out[f] is None or name in rules.demographics
    # and what it names does arrive
    assert out["channel"] == (c["channel"] if rules.channel else None)
    assert out["occurred_at"] <= c["occurred_at"]
    assert (
        c["occurred_at"] - out["occurred_at"]
        < {
            "day": dt.timedelta(days=1),
            "hour": dt.timedelta(hours=1),
            "minute": dt.timedelta(minutes=1),
        }[rules.timestamps.value]
    )
    # no raw id, tool value or answer to an unnamed question is anywhere in the record
    text = json.dumps(out, default=str)
    secrets = [
        c["event_id"],
        c["source_event_id"],
        c["result_raw"],
        c["canvasser_id"],
        c["turf_id"],
    ]
    secrets += [c["person"]["voter_id"], c["person"]["van_id"] and f'"{c["person"]["van_id"]}"']
    secrets += [
        r["answer"] for r in c["responses"] if r["question_id"] not in rules.survey_questions
    ]
    if voter is not None:
        secrets.append(voter["voter_id"])
    assert not [s for s in secrets if s and str(s) in text]
    assert "secret-code" not in out["activist_codes"] and "q-secret" not in text
