"""The incremental monitor, the policy and the enriched-record reader."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ConfigError
from producers.demo.cheats import ProgramSpec, simulate_program
from streams.quality import QualityMonitor, QualitySettings, obs_from_enriched
from streams.quality.checks import shift_checks
from streams.quality.model import Obs
from streams.quality.monitor import local_day
from streams.quality.policy import QualityPolicy, load_quality_settings

T0 = 1_791_000_123.0


def door(i: int, t: float, canvasser: str = "k1", **kw) -> Obs:
    return Obs(
        f"{canvasser}-{i}", "o", "c", "door", canvasser, t, kw.pop("result", "not_home"), **kw
    )


def honest_day(monitor: QualityMonitor, canvassers: int = 8, doors: int = 30) -> list:
    """Canvassers knocking a door every 200 s, about one in five a conversation."""
    rng = random.Random(3)
    flags = []
    for i in range(doors):
        for k in range(canvassers):
            result = "canvassed" if rng.random() < 0.2 else "not_home"
            level = rng.choice([1, 2, 3, 4, 5]) if result == "canvassed" else None
            contact = door(
                i,
                T0 + i * 200 + k,
                f"h{k}",
                result=result,
                support_level=level,
                has_responses=level is not None,
            )
            flags += monitor.observe(contact)
    return flags


class TestMonitor:
    def test_honest_canvassers_raise_no_flag(self):
        assert honest_day(QualityMonitor()) == []

    def test_a_fast_shift_is_flagged_while_running_with_its_evidence(self):
        monitor = QualityMonitor()
        honest_day(monitor)
        start = T0 + 6000
        raised = [f for i in range(60) for f in monitor.observe(door(i, start + i * 40, "fast"))]
        assert raised, "the fast shift was never flagged"
        first = raised[0]
        assert first.canvasser_id == "fast" and first.channel == "door"
        assert "doors_per_hour" in first.fired
        evidence = {c.check: c for c in first.checks}
        pace = evidence["doors_per_hour"]
        assert pace.value > pace.threshold  # type: ignore[operator]
        assert first.flagged_at < start + 59 * 40  # before the shift's last door
        assert first.first_contact_at == start and first.contacts < 60
        assert all(f.flag_id == first.flag_id for f in raised)

    def test_a_flag_grows_when_another_check_fires(self):
        monitor = QualityMonitor()
        raised = []
        for i in range(40):  # fast, then copy-pasted times
            t = T0 + i * 40 if i < 20 else T0 + 20 * 40 + (i // 8) * 300
            raised += monitor.observe(door(i, t, "k"))
        assert len(raised) >= 2
        assert set(raised[0].fired) < set(raised[-1].fired)
        assert "same_time" in raised[-1].fired and "doors_per_hour" in raised[-1].fired

    def test_a_contact_delivered_twice_counts_once(self):
        monitor = QualityMonitor()
        for i in range(10):
            monitor.observe(door(i, T0 + i * 40))
        again = door(3, T0 + 3 * 40)
        assert monitor.observe(again) == []
        (shift,) = monitor.shifts.values()
        assert len(shift.contacts) == 10

    def test_shifts_split_on_a_long_pause_or_by_the_tools_shift_id(self):
        monitor = QualityMonitor()
        for i in range(5):
            monitor.observe(door(i, T0 + i * 300))
        monitor.observe(door(5, T0 + 4 * 300 + 4 * 3600))  # after a 4-hour pause
        monitor.observe(door(6, T0 + 10, shift_id="walk-9"))
        monitor.observe(door(7, T0 + 20, shift_id="walk-9"))
        sizes = sorted(len(s.contacts) for s in monitor.shifts.values())
        assert sizes == [1, 2, 5]
        assert any(k.endswith("/walk-9") for k in monitor.shifts)

    def test_a_campaigns_own_limits_apply(self):
        relaxed = QualitySettings(
            campaigns={"o/c": {"max_doors_per_hour": 200, "min_median_gap_s": 5}}
        )
        monitor = QualityMonitor(relaxed)
        assert [f for i in range(60) for f in monitor.observe(door(i, T0 + i * 40, "fast"))] == []

    def test_a_batch_judges_each_shift_once_and_ends_where_one_by_one_ends(self):
        def day_then_fast() -> list[Obs]:
            rng = random.Random(3)
            contacts = []
            for i in range(30):
                for k in range(8):
                    result = "canvassed" if rng.random() < 0.2 else "not_home"
                    contacts.append(door(i, T0 + i * 200 + k, f"h{k}", result=result))
            return contacts + [door(i, T0 + 6000 + i * 40, "fast") for i in range(60)]

        contacts = day_then_fast()
        one_by_one, batched = QualityMonitor(), QualityMonitor()
        last: dict[str, object] = {}
        for c in contacts:
            for f in one_by_one.observe(c):
                last[f.flag_id] = f
        for f in one_by_one.judge(everything=True):
            last[f.flag_id] = f
        flags = []
        for i in range(0, len(contacts), 100):  # the agent's batches
            for c in contacts[i : i + 100]:
                batched.add(c)
            flags += batched.judge()
        flags += batched.judge(everything=True)  # the stream went quiet
        # one record per flagged shift per batch, not one per contact
        assert len(flags) < sum(1 for c in contacts if c.canvasser_id == "fast")
        final = {f.flag_id: f for f in flags}
        assert final.keys() == last.keys() and final
        for flag_id, f in final.items():
            assert f.contacts == last[flag_id].contacts  # type: ignore[attr-defined]
            assert set(f.fired) >= {"doors_per_hour"}
        assert batched.judge(everything=True) == []  # nothing added since: nothing to judge

    def test_a_long_shift_is_judged_again_as_it_grows_by_a_share(self):
        monitor = QualityMonitor()
        judged = []
        for i in range(400):  # a long session, a contact every 20 s
            monitor.observe(door(i, T0 + i * 20))
            (shift,) = monitor.shifts.values()
            judged.append(shift.judged)
        runs = sorted(set(judged) - {0})
        assert runs[:3] == [5, 6, 7]  # small: every contact
        assert 50 < len(runs) < 120  # not 396: each run after the shift grew by 5%
        assert all(b - a >= max(1, int(0.05 * a)) for a, b in itertools.pairwise(runs))
        assert monitor.unjudged() or runs[-1] == 400
        monitor.judge(everything=True)
        assert shift.judged == 400 and not monitor.unjudged()

    def test_evict_forgets_old_shifts_and_days(self):
        monitor = QualityMonitor()
        honest_day(monitor)
        assert monitor.evict(T0 + 10 * 86400) == 8
        assert monitor.shifts == {} and monitor.peers.groups == {}

    def test_local_day_follows_the_programs_time_zone(self):
        evening = dt.datetime(2026, 10, 3, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
        assert local_day(evening.timestamp(), "UTC") == "2026-10-04"
        assert local_day(evening.timestamp(), "America/Los_Angeles") == "2026-10-03"


@settings(max_examples=40, deadline=None)
@given(st.permutations(list(range(25))), st.lists(st.integers(0, 24), max_size=10))
def test_arrival_order_and_redelivery_do_not_change_the_verdict(order, repeats):
    rng = random.Random(1)
    times = sorted(T0 + rng.uniform(0, 6000) for _ in range(25))
    contacts = [door(i, times[i]) for i in range(25)]
    monitor = QualityMonitor()
    for i in [*order, *repeats]:
        monitor.observe(contacts[i])
    (shift,) = monitor.shifts.values()
    assert [c.event_id for c in shift.contacts] == [c.event_id for c in contacts]
    assert shift_checks(shift.contacts, QualityPolicy()) == shift_checks(contacts, QualityPolicy())


class TestPolicy:
    def test_campaign_overrides_merge_over_the_default(self):
        s = load_quality_settings(
            {
                "default": {"quarantine": True, "max_doors_per_hour": 28},
                "campaigns": {"o/c": {"max_doors_per_hour": 35}},
            },
            "programs.yaml",
        )
        pol = s.policy_for("o", "c")
        assert pol.max_doors_per_hour == 35 and pol.quarantine
        assert s.policy_for("o", "other").max_doors_per_hour == 28

    @pytest.mark.parametrize(
        "data, names",
        [
            ({"campaigns": {"no-slash": {}}}, "org/campaign"),
            ({"campaigns": {"o/c": {"max_doors_per_hour": -1}}}, "max_doors_per_hour"),
            ({"default": {"max_door_per_hour": 30}}, "max_door_per_hour"),
        ],
    )
    def test_bad_settings_name_the_problem(self, data, names):
        with pytest.raises(ConfigError, match=names):
            load_quality_settings(data, "programs.yaml")


class TestEnrichedRecord:
    def record(self, **contact) -> dict:
        base = {
            "event_id": "e1",
            "org_id": "o",
            "campaign_id": "c",
            "channel": "door",
            "canvasser_id": "k",
            "occurred_at": "2026-10-03T15:00:00.000Z",
            "result": "canvassed",
            "input_method": "mobile_app",
            "responses": [
                {"question_id": "vote_plan", "answer": "early", "support_level": None},
                {"question_id": "support", "answer": "2", "support_level": 2},
            ],
        }
        base.update(contact)
        return {"contact": base, "voter": {"precinct_lat": 40.1, "precinct_lon": -75.1}}

    def test_reads_the_evidence_fields(self):
        rec = self.record(
            location={"lat": 40.0, "lon": -75.0, "accuracy_m": 12.5},
            shift_id="walk-1",
            call_duration_s=42,
            reached="person",
        )
        o = obs_from_enriched(rec)
        assert o is not None
        assert (o.lat, o.lon, o.accuracy_m, o.shift_id) == (40.0, -75.0, 12.5, "walk-1")
        assert (o.call_duration_s, o.reached, o.support_level) == (42.0, "person", 2)
        assert (o.voter_lat, o.voter_place) == (40.1, "precinct")
        assert o.occurred_at == dt.datetime(2026, 10, 3, 15, tzinfo=dt.UTC).timestamp()

    def test_addresses_win_over_precincts_and_times_come_in_any_form(self):
        rec = self.record(occurred_at=dt.datetime(2026, 10, 3, 15))
        rec["voter"].update(address_lat=40.2, address_lon=-75.2)
        o = obs_from_enriched(rec)
        assert o is not None and (o.voter_lat, o.voter_place) == (40.2, "address")
        millis = obs_from_enriched(self.record(occurred_at=1_791_000_000_000))
        assert millis is not None and millis.occurred_at == 1_791_000_000.0

    def test_a_contact_without_a_canvasser_is_not_judged(self):
        assert obs_from_enriched(self.record(canvasser_id=None)) is None


class TestSimulator:
    def test_seeded_and_with_the_share_asked_for(self):
        spec = ProgramSpec(dishonest_share=0.25)
        a = simulate_program(spec, random.Random(11))
        b = simulate_program(spec, random.Random(11))
        assert [e["source_event_id"] for e in a.events] == [e["source_event_id"] for e in b.events]
        cheats = [s for s in a.shifts.values() if s.pattern]
        assert 0.15 <= len(cheats) / len(a.shifts) <= 0.35
        assert {s.pattern for s in cheats} <= {
            "curbstone",
            "fast_doors",
            "skewed_ids",
            "copy_paste",
            "short_calls",
        }
        assert sum(s.contacts for s in a.shifts.values()) == len(a.events)

    def test_events_carry_the_evidence_and_every_voter_has_a_place(self):
        program = simulate_program(ProgramSpec(dishonest_share=0.0), random.Random(12))
        assert all(s.pattern is None for s in program.shifts.values())
        doors = [e for e in program.events if e["channel"] == "door"]
        calls = [e for e in program.events if e["channel"] == "phone"]
        assert sum(e["location"] is not None for e in doors) / len(doors) > 0.7
        assert all(e["call_duration_s"] is not None for e in calls)
        assert {e["reached"] for e in calls} >= {"person", "machine"}
        assert all(e["person"]["voter_id"] in program.voters for e in program.events)
        times = [e["occurred_at"] for e in program.events]
        assert times == sorted(times)

    def test_demo_shifts_are_valid_contacts_of_the_demo_ending_now(self):
        from producers.demo.cheats import canvass_day
        from schemas.jsonconv import ContactJson
        from schemas.rules import RESULTS_BY_CHANNEL

        now = dt.datetime(2026, 10, 3, 20, 0, tzinfo=dt.UTC)
        pool = [{"voter_id": f"ZZ{i:06d}", "state": "ZZ"} for i in range(50)]
        events = canvass_day([("demo-org", "gotv-2026")], lambda o, c: pool,
                             random.Random(3), 0.3, now)  # fmt: skip
        assert events and max(e["occurred_at"] for e in events) < now.isoformat()
        convert = ContactJson()
        for e in events:
            record, problems = convert.convert(e, int(now.timestamp() * 1000))
            assert problems == [] and record is not None
            assert record["result"] in RESULTS_BY_CHANNEL[record["channel"]]
            assert record["location"] is None and record["person"]["voter_id"].startswith("ZZ")


def fast_shift(codec) -> list[tuple[bytes, tuple[str, int, int]]]:
    """40 enriched door contacts of one canvasser, one every 40 s, as the agent reads them."""
    from schemas import ENRICHED_CONTACT

    items = []
    for i in range(40):
        at = dt.datetime.fromtimestamp(T0 + i * 40, dt.UTC)
        record = {
            "contact": {
                "event_id": uuid.UUID(int=i), "source_system": "t", "source_event_id": str(i),
                "org_id": "o", "campaign_id": "c", "channel": "door", "occurred_at": at,
                "received_at": at, "person": {"voter_id": str(i), "state": "ZZ"},
                "canvasser_id": "fast", "result": "not_home", "result_raw": "NH",
            },
            "voter_matched": False, "voter": None, "enriched_at": at,
        }  # fmt: skip
        items.append((codec.encode(ENRICHED_CONTACT, record), ("enriched", 0, i)))
    return items


class TestAgentEvent:
    def test_a_shift_flags_and_an_unreadable_contact_is_a_dead_letter(self):
        from schemas import DEAD_LETTER, QUALITY_FLAG, AvroCodec
        from streams.quality.agent import handle_batch

        codec, monitor = AvroCodec(), QualityMonitor()
        out = []
        for item in fast_shift(codec):
            # a batch of one: each contact judged as it comes (once the shift grew by 5%)
            out += handle_batch([item], codec, monitor, "flags", "dlq")
        assert out and {topic for topic, _, _ in out} == {"flags"}
        _, flag = codec.decode(out[-1][2], expect=QUALITY_FLAG)
        assert flag["canvasser_id"] == "fast" and flag["contacts"] == 39  # 40th: under 5%
        # the stream goes quiet: every contact not judged yet is
        [(topic, _, value)] = handle_batch([], codec, monitor, "flags", "dlq", settle=True)
        _, flag = codec.decode(value, expect=QUALITY_FLAG)
        assert topic == "flags" and flag["contacts"] == 40
        assert "doors_per_hour" in {c["check"] for c in flag["checks"]}
        [(topic, _, value)] = handle_batch([(b"\xc3\x01garbage", ("enriched", 0, 99))], codec,
                                           monitor, "flags", "dlq")  # fmt: skip
        _, dead = codec.decode(value, expect=DEAD_LETTER)
        assert topic == "dlq" and dead["stage"] == "quality" and dead["source_offset"] == 99

    def test_a_bad_contact_in_a_batch_is_a_dead_letter_and_the_rest_flag_once(self):
        from schemas import DEAD_LETTER, QUALITY_FLAG, AvroCodec
        from streams.quality.agent import handle_batch

        codec, monitor = AvroCodec(), QualityMonitor()
        items = fast_shift(codec)
        items.insert(20, (b"\xc3\x01garbage", ("enriched", 0, 99)))
        out = handle_batch(items, codec, monitor, "flags", "dlq")
        assert [t for t, _, _ in out] == ["dlq", "flags"]
        _, dead = codec.decode(out[0][2], expect=DEAD_LETTER)
        assert dead["source_offset"] == 99
        _, flag = codec.decode(out[1][2], expect=QUALITY_FLAG)
        assert flag["contacts"] == 40 and "doors_per_hour" in {c["check"] for c in flag["checks"]}
