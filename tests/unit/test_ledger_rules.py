"""The ledger's pure parts: the program's clock in programs.yaml, the rule of a correction, a
tool's correction body, fold pairing, retractions for partners, verify's shadow names."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.config import (
    DEFAULT_TIMEZONE,
    CampaignConfig,
    FoldConfig,
    OrgConfig,
    SourceConfig,
    load_programs,
    write_programs,
)
from core.errors import ConfigError
from core.settings import SELF_PARTNER
from producers.gateway.corrections import build
from schemas import CORRECTION, RETRACTION, AvroCodec
from schemas.corrections import Selector, correction
from schemas.ids import event_id_for
from sinks.folds import Candidate, pair_up
from sinks.rows import local_day
from sinks.verify import SHADOW, Shadow
from streams.exchange.agent import plan_retraction
from streams.exchange.pseudonym import shared_event_id
from tests.unit.test_exchange_agent import AGREEMENTS, EX, KEYS, NOW

CODEC = AvroCodec()
UTC = dt.UTC
FROM = dt.datetime(2026, 10, 20, 14, tzinfo=UTC)
TO = dt.datetime(2026, 10, 20, 18, tzinfo=UTC)


# --- the program's clock -------------------------------------------------------------------


def test_zones_come_from_the_campaign_then_the_org_then_the_file(tmp_path: Path) -> None:
    path = tmp_path / "programs.yaml"
    west = CampaignConfig(id="west", timezone="America/Los_Angeles")
    write_programs(
        path,
        [
            OrgConfig(id="a", timezone="America/Chicago", campaigns=["main", west]),
            OrgConfig(id="b"),
        ],
        timezone="America/Denver",
    )
    p = load_programs(path)
    assert p.zone_of("a", "west") == "America/Los_Angeles"
    assert p.zone_of("a", "main") == "America/Chicago"
    assert p.zone_of("b", "anything") == "America/Denver"
    assert p.knows_campaign("a", "west") and p.knows_campaign("a", "main")
    path.write_text("orgs: [{id: c, campaigns: [x]}]\n")
    assert load_programs(path).zone_of("c", "x") == DEFAULT_TIMEZONE


@pytest.mark.parametrize(
    "text",
    [
        "timezone: Mars/Olympus\norgs: []\n",
        "orgs: [{id: a, timezone: EST5EDT-ish}]\n",
        "orgs: [{id: a, campaigns: [{id: x, timezone: ''}]}]\n",
        "orgs: [{id: a, campaigns: [{id: x, ramp: {weekdays: [1, 1, 1]}}]}]\n",
        "orgs: [{id: a, folds: {pairs: [[van, van]]}}]\n",
        "orgs: [{id: a, folds: {window_minutes: -5}}]\n",
    ],
)
def test_a_bad_programs_file_is_refused_naming_the_field(tmp_path: Path, text: str) -> None:
    path = tmp_path / "programs.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="programs file"):
        load_programs(path)


def test_local_day_is_the_zones_day_around_midnight_and_dst() -> None:
    la = "America/Los_Angeles"
    # 23:30 on Sunday 1 November (after the change: UTC-8) is Monday 07:30 UTC
    assert local_day(dt.datetime(2026, 11, 2, 7, 30, tzinfo=UTC), la) == dt.date(2026, 11, 1)
    assert local_day(dt.datetime(2026, 11, 2, 8, 30, tzinfo=UTC), la) == dt.date(2026, 11, 2)
    # 23:30 on Saturday 7 March (before the change: UTC-8), 00:30 on the short Sunday
    assert local_day(dt.datetime(2026, 3, 8, 7, 30, tzinfo=UTC), la) == dt.date(2026, 3, 7)
    assert local_day(dt.datetime(2026, 3, 8, 8, 30, tzinfo=UTC), la) == dt.date(2026, 3, 8)


# --- the rule of a correction ---------------------------------------------------------------


def test_each_kind_of_selector_makes_a_correction() -> None:
    for selector in (
        Selector(event_ids=["e1", "e2"]),
        Selector(import_run="run-1"),
        Selector(canvasser_id="c-1", time_from=FROM, time_to=TO),
        Selector(source_system="van", time_from=FROM, time_to=TO, campaign_id="gotv"),
        Selector(canvasser_id="c-1", source_system="van", time_from=FROM, time_to=TO),
    ):
        built = correction("void", "org-a", selector, reason="fabricated", requested_by="dm")
        assert built.problems == [] and built.record is not None
        assert CODEC.decode(CODEC.encode(CORRECTION, built.record))[1]["org_id"] == "org-a"
    undo = correction("unvoid", "org-a", Selector(undo="c-1"), reason="ok", requested_by="dm")
    assert undo.problems == []


@pytest.mark.parametrize(
    ("action", "selector", "problem"),
    [
        ("void", Selector(), "exactly one of"),
        ("void", Selector(campaign_id="gotv"), "exactly one of"),
        ("void", Selector(event_ids=["e"], import_run="r"), "exactly one of"),
        ("void", Selector(canvasser_id="c-1"), "needs a time range"),
        ("void", Selector(time_from=FROM, time_to=TO), "needs a canvasser, a source"),
        ("void", Selector(canvasser_id="c", time_from=TO, time_to=FROM), "start before"),
        ("void", Selector(canvasser_id="c", time_from=FROM), "both its start and its end"),
        ("void", Selector(undo="x"), "undo is for unvoid"),
        ("void", Selector(event_ids=[" "]), "event id is empty"),
        ("erase", Selector(event_ids=["e"]), "action must be"),
    ],
)
def test_a_correction_that_could_touch_too_much_is_refused(
    action: str, selector: Selector, problem: str
) -> None:
    built = correction(action, "org-a", selector, reason="why", requested_by="dm")
    assert built.record is None and any(problem in p for p in built.problems), built.problems


def test_a_correction_needs_a_reason_and_someone_asking() -> None:
    built = correction("void", "org-a", Selector(event_ids=["e"]), reason=" ", requested_by="")
    assert built.record is None and len(built.problems) == 2


@given(st.dictionaries(st.sampled_from(sorted(Selector.__dataclass_fields__)), st.text(max_size=8)))
def test_no_selector_of_text_ever_raises(fields: dict[str, str]) -> None:
    values: dict[str, object] = dict(fields)
    if "event_ids" in values:
        values["event_ids"] = [str(values["event_ids"])]
    for name in ("time_from", "time_to"):
        values.pop(name, None)
    built = correction("void", "org-a", Selector(**values), reason="r", requested_by="b")  # type: ignore[arg-type]
    assert (built.record is None) == bool(built.problems)


# --- a tool's correction body ----------------------------------------------------------------

SOURCE = SourceConfig.model_validate(
    {"id": "canvass-app", "org_id": "org-a", "secrets": ["x" * 20], "tool": "hustle"}
)


def test_a_tool_voids_its_own_contacts_by_its_own_ids() -> None:
    record, problems = build(
        {"action": "void", "reason": "walk list flagged", "source_event_ids": ["a1", "a2"]},
        SOURCE,
        NOW,
    )
    assert problems == [] and record is not None
    assert record["event_ids"] == [
        event_id_for("org-a", "hustle", "a1"),
        event_id_for("org-a", "hustle", "a2"),
    ]
    assert record["source_system"] == "hustle"  # its own contacts only
    assert record["org_id"] == "org-a" and record["requested_by"] == "canvass-app"


def test_a_tools_time_range_is_its_own_source_and_time_range() -> None:
    body = {
        "action": "void",
        "reason": "r",
        "time_from": "2026-10-20T07:00:00-07:00",
        "time_to": "2026-10-20T11:00:00-07:00",
        "source_system": "van",
    }
    record, problems = build(body, SOURCE, NOW)
    assert record is None and "source_system: not a field of a correction" in problems
    del body["source_system"]
    record, problems = build(body, SOURCE, NOW)
    assert problems == [] and record is not None
    assert (record["time_from"], record["source_system"]) == (FROM, "hustle")


@pytest.mark.parametrize(
    "body",
    [[], "void", {"action": "void"}, {"action": "void", "reason": "r", "time_from": "today"},
     {"action": "void", "reason": "r", "event_ids": "e1"}, {"action": "void", "reason": 3}],
)  # fmt: skip
def test_a_bad_body_names_its_problems(body: object) -> None:
    record, problems = build(body, SOURCE, NOW)
    assert record is None and problems


# --- fold pairing ---------------------------------------------------------------------------


def cand(p: str, s: str, gap: int) -> Candidate:
    day = dt.date(2026, 11, 2)
    return Candidate(p, s, gap, "o", "c", "spoke", day, dt.datetime(2026, 11, 2, tzinfo=UTC))


def test_pairs_are_one_to_one_nearest_first() -> None:
    made = pair_up([cand("p1", "s1", 600), cand("p1", "s2", 60), cand("p2", "s1", 120)], set())
    assert {(c.primary, c.secondary) for c in made} == {("p1", "s2"), ("p2", "s1")}
    # two genuine attempts by one path and one copy: one pair, the other attempt stays
    assert [c.secondary for c in pair_up([cand("p1", "s1", 5), cand("p2", "s1", 9)], set())] == [
        "s1"
    ]
    # a pair once made is kept
    assert pair_up([cand("p1", "s9", 1)], {"p1"}) == []


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 3600))))
def test_no_contact_is_in_two_pairs(edges: list[tuple[int, int, int]]) -> None:
    made = pair_up([cand(f"p{a}", f"s{b}", g) for a, b, g in edges], set())
    ids = [c.primary for c in made] + [c.secondary for c in made]
    assert len(ids) == len(set(ids))


# --- retractions for partners ---------------------------------------------------------------


def suppression(active: bool, kind: str = "void", campaign: str = "gotv") -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "voided")),
        "org_id": "org-a",
        "campaign_id": campaign,
        "occurred_at": NOW - dt.timedelta(days=1),
        "kind": kind,
        "active": active,
        "decided_at": NOW + dt.timedelta(minutes=17),
    }


def test_a_void_is_retracted_from_our_copy_and_every_partner_covering_it() -> None:
    plan = plan_retraction(suppression(True), AGREEMENTS, KEYS, NOW, EX)
    assert plan.error is None
    assert sorted(plan.partners) == ["state-party", "union"]  # not the ended one, not org-z's
    key = KEYS.key_at(NOW - dt.timedelta(days=1))
    sid = shared_event_id(key, str(uuid.uuid5(uuid.NAMESPACE_URL, "voided")))
    for out in plan.out:
        record = CODEC.decode(CODEC.encode(RETRACTION, out.record))[1]
        assert str(record["shared_event_id"]) == sid and record["retracted"] is True
        assert record["reason"] == "voided" and record["decided_at"].minute == 0
    assert plan.out[0].record["partner_id"] == SELF_PARTNER
    other = plan_retraction(suppression(True, campaign="private"), AGREEMENTS, KEYS, NOW, EX)
    assert other.partners == ["union"]  # only the agreement that covers every campaign


def test_an_undone_void_and_a_fold_say_so() -> None:
    undone = plan_retraction(suppression(False), AGREEMENTS, KEYS, NOW, EX)
    assert {o.record["retracted"] for o in undone.out} == {False}
    fold = plan_retraction(suppression(True, kind="fold"), AGREEMENTS, KEYS, NOW, EX)
    assert {o.record["reason"] for o in fold.out} == {"duplicate"}


# --- verify's shadow ------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.sql: list[str] = []

    def rows(self, sql: str) -> list[list[object]]:
        self.sql.append(sql)
        return []

    def command(self, sql: str) -> None:
        self.sql.append(sql)

    def atomic(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


def test_the_shadow_points_derived_tables_and_nothing_else() -> None:
    seen = Recorder()
    shadow = Shadow(seen, ["counts_daily", "contact_rollup_daily"])
    shadow.command(
        "INSERT INTO counts_daily SELECT * FROM contact_rollup_daily AS r JOIN contact_events "
        "USING (event_id) WHERE table = 'counts_daily_x' AND x.counts_daily = 1"
    )
    assert seen.sql == [
        f"INSERT INTO {SHADOW}.counts_daily SELECT * FROM {SHADOW}.contact_rollup_daily AS r "
        "JOIN contact_events USING (event_id) WHERE table = 'counts_daily_x' AND "
        "x.counts_daily = 1"
    ]


def test_fold_config_default_folds_nothing() -> None:
    assert FoldConfig().pairs == [] and FoldConfig().window_minutes == 60
