"""The exchange agent's per-event logic (pure): who gets what, the self copy, audit, DLQ."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import SELF_PARTNER, ExchangeSettings, Settings
from schemas import (
    DEAD_LETTER,
    ENRICHED_CONTACT,
    EXCHANGE_AUDIT,
    SHARED_CONTACT,
    VOTER_PSEUDONYM,
    AvroCodec,
)
from streams.exchange import KeyRing, PseudonymKey, parse_agreements, voter_pseudonym
from streams.exchange.agent import (
    ExchangeAgent,
    dead_letter,
    encode_plan,
    plan_event,
    self_agreement,
)
from streams.exchange.audit import audit_record, pseudonym_records

UTC = dt.UTC
CODEC = AvroCodec()
NOW = dt.datetime(2026, 10, 3, 18, 0, tzinfo=UTC)
KEYS = KeyRing(
    (
        PseudonymKey.model_validate(
            {
                "id": "k1",
                "secret": "a" * 40,
                "valid_from": "2026-01-01",
                "valid_until": "2026-07-01",
            }
        ),
        PseudonymKey.model_validate({"id": "k2", "secret": "b" * 40, "valid_from": "2026-07-01"}),
    )
)
EX = ExchangeSettings(our_partner_id="org-a")

AGREEMENTS = parse_agreements(
    {
        "agreements": [
            {
                "id": "sp",
                "partner": "state-party",
                "valid_from": "2026-01-01",
                "valid_until": "2027-01-01",
                "share": [{"org": "org-a", "campaigns": ["gotv"]}],
                "fields": {"timestamps": "day", "result": True, "geography": "county"},
            },
            {
                "id": "union",
                "partner": "union",
                "valid_from": "2026-01-01",
                "valid_until": "2027-01-01",
                "share": [{"org": "org-a", "campaigns": ["*"]}],
                "fields": {"timestamps": "hour", "channel": True},
            },
            {  # ended: shares nothing
                "id": "old",
                "partner": "pac",
                "valid_from": "2025-01-01",
                "valid_until": "2026-01-01",
                "share": [{"org": "org-a", "campaigns": ["*"]}],
                "fields": {"timestamps": "day"},
            },
            {  # another of our orgs only
                "id": "other",
                "partner": "county-party",
                "valid_from": "2026-01-01",
                "valid_until": "2027-01-01",
                "share": [{"org": "org-z", "campaigns": ["*"]}],
                "fields": {"timestamps": "day"},
            },
        ]
    }
)

VOTER = {
    "voter_id": "PA-1",
    "state": "PA",
    "county": "Erie",
    "precinct": "P1",
    "congressional_district": "PA-16",
    "birth_year": 1980,
    "sex": "female",
    "race": "black",
    "race_source": "self_reported",
    "ethnicity": "not_hispanic",
    "ethnicity_source": "bisg",
    "updated_at": NOW,
}


def enriched(
    campaign: str = "gotv", occurred: dt.datetime = NOW - dt.timedelta(minutes=5), n: int = 1
) -> dict[str, Any]:
    record = {
        "contact": {
            "event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"agent-test-{n}"),
            "source_system": "van",
            "source_event_id": f"e{n}",
            "org_id": "org-a",
            "campaign_id": campaign,
            "channel": "door",
            "occurred_at": occurred,
            "received_at": occurred,
            "person": {"voter_id": "PA-1", "state": "PA"},
            "canvasser_id": "c-1",
            "result": "canvassed",
            "result_raw": "x",
            "responses": [],
        },
        "voter_matched": True,
        "voter": VOTER,
        "enriched_at": occurred,
    }
    return CODEC.decode(CODEC.encode(ENRICHED_CONTACT, record), expect=ENRICHED_CONTACT)[1]


def by_topic(plan: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for o in plan.out:
        out.setdefault(o.topic, []).append(o.record)
    return out


def test_each_partner_in_force_gets_its_terms_and_an_audit_record() -> None:
    plan = plan_event(enriched(), AGREEMENTS, KEYS, NOW, EX)
    assert plan.error is None
    assert plan.partners == ["state-party", "union"]  # pac ended, county-party: other org
    topics = by_topic(plan)
    assert set(topics) == {
        "exchange.org-a.self",
        "exchange.state-party",
        "exchange.union",
        "exchange.org-a.audit",
    }
    sp, union = topics["exchange.state-party"][0], topics["exchange.union"][0]
    assert (sp["result"], sp["county"], sp["channel"]) == ("canvassed", "Erie", None)
    assert (union["channel"], union["result"], union["county"]) == ("door", None, None)
    assert sp["occurred_at"] == dt.datetime(2026, 10, 3, tzinfo=UTC)
    assert union["occurred_at"] == dt.datetime(2026, 10, 3, 17, tzinfo=UTC)
    audits = topics["exchange.org-a.audit"]
    assert [(a["partner_id"], a["agreement_id"]) for a in audits] == [
        ("state-party", "sp"),
        ("union", "union"),
    ]
    version = AGREEMENTS.by_id("sp").version  # type: ignore[union-attr]
    assert audits[0]["agreement_version"] == version == sp["agreement_version"]
    event_id = str(enriched()["contact"]["event_id"])
    assert all(a["event_id"] == event_id and a["campaign_id"] == "gotv" for a in audits)
    # one shared id per event: every copy is keyed by it, audit keys name the partner too
    keys = {o.key for o in plan.out if o.schema == SHARED_CONTACT}
    assert keys == {sp["shared_event_id"]}
    audit_keys = sorted(o.key for o in plan.out if o.schema == EXCHANGE_AUDIT)
    assert audit_keys == [f"state-party:{sp['shared_event_id']}", f"union:{sp['shared_event_id']}"]


def test_campaign_outside_an_agreement_goes_only_where_allowed() -> None:
    plan = plan_event(enriched(campaign="persuasion"), AGREEMENTS, KEYS, NOW, EX)
    assert plan.partners == ["union"]  # "*" campaigns; state-party names gotv only


def test_the_self_copy_lines_up_with_what_partners_get() -> None:
    plan = plan_event(enriched(), AGREEMENTS, KEYS, NOW, EX)
    ours = by_topic(plan)["exchange.org-a.self"][0]
    theirs = by_topic(plan)["exchange.union"][0]
    assert ours["partner_id"] == SELF_PARTNER and ours["agreement_id"] == SELF_PARTNER
    assert ours["person_pseudonym"] == theirs["person_pseudonym"]
    assert ours["person_pseudonym"] == voter_pseudonym(KEYS.keys[1], "PA", "PA-1")
    assert ours["shared_event_id"] == theirs["shared_event_id"]
    assert (ours["precinct"], ours["race"], ours["race_source"]) == ("P1", "black", "self_reported")
    assert ours["occurred_at"] == dt.datetime(2026, 10, 3, 17, 55, tzinfo=UTC)  # minute


def test_no_key_for_the_contact_time_is_an_error_and_nothing_is_shared() -> None:
    early = enriched(occurred=dt.datetime(2025, 6, 1, tzinfo=UTC))
    plan = plan_event(early, AGREEMENTS, KEYS, NOW, EX)
    assert plan.out == [] and plan.partners == []
    assert plan.error is not None and plan.error[0] == "exchange_no_key"
    assert "2025-06-01" in plan.error[1]
    contact = early["contact"]
    letter = dead_letter(b"raw", ("enriched", 1, 42), *plan.error, at=NOW, contact=contact)
    back = CODEC.decode(CODEC.encode(DEAD_LETTER, letter), expect=DEAD_LETTER)[1]
    assert (back["reason_code"], back["source_offset"], back["original"]) == (
        "exchange_no_key",
        42,
        b"raw",
    )
    assert "PA-1" not in back["reason"]
    assert (back["event_id"], back["org_id"]) == (str(contact["event_id"]), "org-a")


def test_a_broken_record_is_an_error_not_an_exception() -> None:
    bad = enriched()
    del bad["contact"]["org_id"]
    plan = plan_event(bad, AGREEMENTS, KEYS, NOW, EX)
    assert plan.error is not None and plan.error[0] == "exchange_error"


def test_replanning_the_same_event_gives_the_same_bytes_but_for_the_sharing_time() -> None:
    first = encode_plan(plan_event(enriched(), AGREEMENTS, KEYS, NOW, EX), CODEC)
    again = encode_plan(plan_event(enriched(), AGREEMENTS, KEYS, NOW, EX), CODEC)
    assert first == again
    later = plan_event(enriched(), AGREEMENTS, KEYS, NOW + dt.timedelta(hours=1), EX)
    shared = [o.record for o in later.out if o.schema == SHARED_CONTACT]
    assert len(shared) == 3
    for _topic, key, value in first:
        name, rec = CODEC.decode(value)
        if name == SHARED_CONTACT:
            assert key.decode() == str(rec["shared_event_id"])


def test_agreements_not_in_force_share_nothing_but_the_self_copy() -> None:
    plan = plan_event(enriched(), AGREEMENTS, KEYS, dt.datetime(2027, 2, 1, tzinfo=UTC), EX)
    assert plan.partners == [] and [o.topic for o in plan.out] == ["exchange.org-a.self"]


def test_topic_templates_name_us_and_the_partner() -> None:
    ex = ExchangeSettings(
        our_partner_id="org-b", outbound_topic="x.{us}.to.{partner}", audit_topic="a.{us}"
    )
    plan = plan_event(enriched(), AGREEMENTS, KEYS, NOW, ex)
    assert {o.topic for o in plan.out} == {
        "exchange.org-b.self",
        "x.org-b.to.state-party",
        "x.org-b.to.union",
        "a.org-b",
    }


def test_inbound_pairs_parse_and_refuse_nonsense() -> None:
    ex = ExchangeSettings(our_partner_id="org-a", inbound="org-b=exchange.{us}, self=s.{us}")
    assert ex.inbound_topics() == {"exchange.org-a": "org-b", "s.org-a": "self"}
    with pytest.raises(ValueError, match="partner=topic"):
        ExchangeSettings(inbound="org-b")


def test_audit_and_pseudonym_records_fit_their_schemas() -> None:
    e = enriched()
    shared = plan_event(e, AGREEMENTS, KEYS, NOW, EX).out[1].record
    audit = audit_record(shared, e, NOW)
    back = CODEC.decode(CODEC.encode(EXCHANGE_AUDIT, audit), expect=EXCHANGE_AUDIT)[1]
    assert back["occurred_at"] == e["contact"]["occurred_at"]
    rows = list(pseudonym_records([("PA", "PA-1"), ("", "bad")], KEYS))
    assert [r["key_id"] for r in rows] == ["k1", "k2"]  # the unusable id is skipped
    assert rows[1]["person_pseudonym"] == voter_pseudonym(KEYS.keys[1], "PA", "PA-1")
    for r in rows:
        assert CODEC.decode(CODEC.encode(VOTER_PSEUDONYM, r), expect=VOTER_PSEUDONYM)[1] == r


def test_self_agreement_is_cached_per_org() -> None:
    assert self_agreement("org-a") is self_agreement("org-a")
    assert self_agreement("org-a").covers("org-a", "any")
    assert not self_agreement("org-a").covers("org-b", "any")


def test_ensure_paths_resolve_under_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path.resolve()
    ex = Settings(data_dir=data_dir, exchange=EX.model_copy()).exchange
    assert ex.keys_file == data_dir / "exchange" / "keys.yaml"
    assert ex.agreements_file == data_dir / "exchange" / "agreements.yaml"
    absolute = ExchangeSettings(keys_file=Path("/abs/k.yaml"))
    assert Settings(data_dir=data_dir, exchange=absolute).exchange.keys_file == Path("/abs/k.yaml")


def test_agreement_changes_are_logged_and_a_bad_file_keeps_the_terms(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raw = [dict(a.model_dump(mode="json")) for a in AGREEMENTS.agreements[:1]]
    path = tmp_path / "agreements.yaml"
    path.write_text(yaml.safe_dump({"agreements": raw}))
    created: list[list[str]] = []
    agent = ExchangeAgent(
        {},
        {"bootstrap.servers": "127.0.0.1:1"},
        EX.model_copy(update={"reload_check_s": 0.001}),
        enriched_topic="enriched",
        dlq_topic="dlq",
        agreements_path=path,
        keys=KEYS,
        codec=CODEC,
        on_new_topics=created.append,
    )
    old = agent.agreements.by_id("sp")
    assert old is not None
    caplog.set_level(logging.INFO, logger="streams.exchange.agent")

    path.write_text("agreements: [{id: sp, partner: state-party}]\n")  # missing terms
    agent.reload_requested.set()
    assert not agent.maybe_reload()
    assert agent.agreements.by_id("sp") is old  # the terms in force stay
    assert "agreements not reloaded" in caplog.text

    raw[0]["fields"]["channel"] = True
    raw.append({**raw[0], "id": "pac", "partner": "pac"})
    path.write_text(yaml.safe_dump({"agreements": raw}))
    agent.reload_requested.set()
    assert agent.maybe_reload()
    new = agent.agreements.by_id("sp")
    assert new is not None and new.version != old.version and new.fields.channel
    assert f"agreement sp version {old.version} -> {new.version}: fields.channel" in caplog.text
    assert "agreement pac (partner pac) added" in caplog.text
    assert created == [["exchange.pac"]]
    plan = plan_event(enriched(), agent.agreements, KEYS, NOW, EX)
    assert plan.partners == ["pac", "state-party"]
