"""Each own-contacts quality check, with the honest cases that must not fire: apartment
buildings, rural turf, paper sheets, date-only times, phone banks full of machines."""

from __future__ import annotations

import math
from typing import Any

import pytest

from streams.quality.checks import (
    check_far_from_voter,
    check_one_spot,
    check_pace,
    check_same_time,
    check_short_calls,
    check_travel,
    shift_checks,
)
from streams.quality.model import Obs
from streams.quality.policy import QualityPolicy
from streams.quality.stats import distance_m

POL = QualityPolicy()
T0 = 1_791_000_123.0  # 2026-10-03, mid-afternoon UTC (not a bare date)
LAT, LON = 40.0, -75.0


def at(east_m: float, north_m: float = 0.0) -> tuple[float, float]:
    return (LAT + north_m / 111_320.0, LON + east_m / (111_320.0 * math.cos(math.radians(LAT))))


def obs(i: int, t: float, **kw: Any) -> Obs:
    base: dict[str, Any] = {
        "event_id": f"e{i}",
        "org_id": "o",
        "campaign_id": "c",
        "channel": "door",
        "canvasser_id": "k1",
        "occurred_at": t,
        "result": "not_home",
        "input_method": "mobile_app",
    }
    base.update(kw)
    return Obs(**base)


def walk(
    n: int, gap_s: float, step_m: float = 80.0, *, fix_offset_m: float = 5.0, **kw: Any
) -> list[Obs]:
    """A canvasser walking a street: doors step_m apart, recorded gap_s apart, each fix
    fix_offset_m from the voter's address."""
    out = []
    for i in range(n):
        home = at(i * step_m)
        fix = at(i * step_m + fix_offset_m)
        out.append(
            obs(
                i,
                T0 + i * gap_s,
                lat=fix[0],
                lon=fix[1],
                accuracy_m=10.0,
                voter_lat=home[0],
                voter_lon=home[1],
                voter_place="address",
                **kw,
            )
        )
    return out


def by_name(results: list, name: str):
    return next(r for r in results if r.check == name)


def test_distance_is_metres():
    assert distance_m(40.0, -75.0, 41.0, -75.0) == pytest.approx(111_195, rel=1e-3)
    assert distance_m(*at(0), *at(300, 400)) == pytest.approx(500, rel=2e-3)


class TestPace:
    def test_honest_street_pace_passes(self):
        results = check_pace(walk(20, 180), POL)
        assert not by_name(results, "doors_per_hour").fired
        assert by_name(results, "doors_per_hour").value == pytest.approx(20.0, rel=0.01)
        assert not by_name(results, "door_gap").fired

    def test_too_fast_doors_fire_with_their_numbers(self):
        result = by_name(check_pace(walk(40, 45), POL), "doors_per_hour")
        assert result.fired
        assert result.value == pytest.approx(80.0, rel=0.01)
        assert result.threshold == POL.max_doors_per_hour
        assert result.detail["doors"] == 40 and result.detail["building"] == "no"

    def test_apartment_building_many_doors_at_one_spot_passes(self):
        # 60 doors of one building, a minute apart: 60 an hour, voters all at one address
        doors = walk(60, 60, step_m=2.0)
        result = by_name(check_pace(doors, POL), "doors_per_hour")
        assert result.detail["building"] == "yes"
        assert not result.fired
        # the same pace along a street is too fast
        assert by_name(check_pace(walk(60, 60), POL), "doors_per_hour").fired

    def test_unknown_place_gets_the_middle_limit(self):
        doors = [obs(i, T0 + i * 80) for i in range(30)]  # 45 an hour, no place known
        result = by_name(check_pace(doors, POL), "doors_per_hour")
        assert result.detail["building"] == "unknown"
        assert result.threshold == POL.max_doors_per_hour * POL.unknown_place_rate_factor
        assert not result.fired

    def test_rural_long_gaps_pass(self):
        results = check_pace(walk(12, 600, step_m=1500), POL)
        assert not any(r.fired for r in results)

    def test_paper_sheets_typed_in_fast_are_not_judged(self):
        doors = [obs(i, T0 + i * 15, input_method="paper") for i in range(40)]
        assert check_pace(doors, POL) == []

    def test_back_to_back_doors_fire_the_gap(self):
        result = by_name(check_pace(walk(20, 10), POL), "door_gap")
        assert result.fired and result.value == 10.0

    def test_too_few_doors_or_too_short_a_span(self):
        assert check_pace(walk(POL.rate_min_contacts - 1, 30), POL) == []
        names = [r.check for r in check_pace(walk(12, 60), POL)]  # 11 minutes only
        assert names == ["door_gap"]


class TestSameTime:
    def test_copy_paste_batches_fire(self):
        doors = [obs(i, T0 + (i // 6) * 900) for i in range(30)]
        result = check_same_time(doors, POL)
        assert result is not None and result.fired
        assert result.detail["same_pairs"] == 25

    def test_live_doors_pass(self):
        result = check_same_time(walk(30, 150), POL)
        assert result is not None and not result.fired and result.value == 0

    def test_texts_sent_in_one_second_are_not_judged(self):
        texts = [obs(i, T0, channel="text", result="texted") for i in range(50)]
        assert check_same_time(texts, POL) is None

    def test_date_only_times_are_not_judged(self):
        midnight = 1_790_985_600.0  # 2026-10-03T00:00:00Z
        doors = [obs(i, midnight) for i in range(30)]
        assert doors[0].date_only
        assert check_same_time(doors, POL) is None
        assert check_pace(doors, POL) == []

    def test_one_double_tap_is_not_enough(self):
        doors = walk(20, 150)
        doors.insert(5, obs(99, doors[4].occurred_at))
        result = check_same_time(doors, POL)
        assert result is not None and not result.fired


class TestFarFromVoter:
    def test_doors_a_kilometre_from_the_addresses_fire(self):
        result = check_far_from_voter(walk(12, 150, fix_offset_m=1000), POL)
        assert result is not None and result.fired
        assert result.detail["far"] == 12 and 980 <= float(result.detail["worst_m"]) <= 1000

    def test_doors_at_the_addresses_pass(self):
        result = check_far_from_voter(walk(12, 150, fix_offset_m=40), POL)
        assert result is not None and not result.fired and result.detail["far"] == 0

    def test_inaccurate_fixes_are_not_used(self):
        doors = [
            obs(
                i,
                T0 + i * 150,
                lat=o.lat,
                lon=o.lon,
                accuracy_m=500.0,
                voter_lat=o.voter_lat,
                voter_lon=o.voter_lon,
                voter_place="address",
            )
            for i, o in enumerate(walk(12, 150, fix_offset_m=1000))
        ]
        assert check_far_from_voter(doors, POL) is None

    def test_accuracy_is_given_the_benefit_of_the_doubt(self):
        doors = walk(12, 150, fix_offset_m=350)  # 350 m off, accuracy 10 m: far
        assert check_far_from_voter(doors, POL).fired  # type: ignore[union-attr]
        loose = [
            obs(
                i,
                o.occurred_at,
                lat=o.lat,
                lon=o.lon,
                accuracy_m=80.0,
                voter_lat=o.voter_lat,
                voter_lon=o.voter_lon,
                voter_place="address",
            )
            for i, o in enumerate(doors)
        ]
        assert not check_far_from_voter(loose, POL).fired  # type: ignore[union-attr]

    def test_a_precinct_centroid_only_places_the_voter_roughly(self):
        def shifted(offset_m: float) -> list[Obs]:
            centroid = at(0)
            return [
                obs(
                    i,
                    T0 + i * 150,
                    lat=at(offset_m, i * 20)[0],
                    lon=at(offset_m, i * 20)[1],
                    accuracy_m=10.0,
                    voter_lat=centroid[0],
                    voter_lon=centroid[1],
                    voter_place="precinct",
                )
                for i in range(12)
            ]

        assert not check_far_from_voter(shifted(1000), POL).fired  # type: ignore[union-attr]
        assert check_far_from_voter(shifted(5000), POL).fired  # type: ignore[union-attr]


class TestOneSpot:
    def spot(self, n: int, voters_step_m: float | None, gap_s: float = 180) -> list[Obs]:
        fix = at(2000)
        out = []
        for i in range(n):
            extra: dict[str, Any] = {}
            if voters_step_m is not None:
                home = at(i * voters_step_m)
                extra = {"voter_lat": home[0], "voter_lon": home[1], "voter_place": "address"}
            out.append(obs(i, T0 + i * gap_s, lat=fix[0], lon=fix[1], accuracy_m=8.0, **extra))
        return out

    def test_curbstoning_from_one_spot_fires(self):
        result = check_one_spot(self.spot(15, voters_step_m=80), POL)
        assert result is not None and result.fired and result.weight == 1.0
        assert result.value == 1.0 and float(result.detail["voter_spread_m"]) > 150

    def test_apartment_building_does_not(self):
        result = check_one_spot(self.spot(15, voters_step_m=1), POL)
        assert result is not None and not result.fired

    def test_unknown_voters_count_half(self):
        result = check_one_spot(self.spot(15, voters_step_m=None), POL)
        assert result is not None and result.fired
        assert result.weight == POL.one_spot_unknown_weight
        assert result.detail["voter_spread_m"] == "unknown"

    def test_walking_canvassers_are_not_at_one_spot(self):
        result = check_one_spot(walk(15, 180), POL)
        assert result is not None and not result.fired

    def test_a_short_stay_is_not_judged(self):
        assert check_one_spot(self.spot(15, voters_step_m=80, gap_s=30), POL) is None


class TestTravel:
    def test_teleporting_between_doors_fires(self):
        doors = walk(12, 60)
        far = at(20_000)
        for i in (4, 5, 8, 9):  # two trips of 20 km and back, a minute each
            doors[i] = obs(i, doors[i].occurred_at, lat=far[0], lon=far[1], accuracy_m=10.0)
        result = check_travel(doors, POL)
        assert result is not None and result.fired
        assert float(result.detail["jumps"]) >= 2 and (result.value or 0) > 300

    def test_one_gps_glitch_is_dropped(self):
        doors = walk(12, 60)
        wild = at(3000)
        doors[6] = obs(6, doors[6].occurred_at, lat=wild[0], lon=wild[1], accuracy_m=10.0)
        result = check_travel(doors, POL)
        assert result is not None and not result.fired
        assert result.detail["glitches_dropped"] == 1

    def test_rural_driving_passes(self):
        result = check_travel(walk(12, 180, step_m=2000), POL)  # 11 m/s
        assert result is not None and not result.fired


class TestShortCalls:
    def call(
        self,
        i: int,
        result: str,
        duration: float,
        reached: str | None = None,
        level: int | None = None,
    ) -> Obs:
        return obs(
            i,
            T0 + i * 120,
            channel="phone",
            result=result,
            call_duration_s=duration,
            reached=reached,
            support_level=level,
            has_responses=level is not None,
        )

    def test_quick_calls_recorded_as_conversations_fire(self):
        calls = [self.call(i, "canvassed", 9, "person", 1) for i in range(8)]
        result = check_short_calls(calls, POL)
        assert result is not None and result.fired and result.detail["median_s"] == 9

    def test_phone_bank_full_of_machines_passes(self):
        machines = [self.call(i, "left_message", 12, "machine") for i in range(60)]
        no_answer = [self.call(60 + i, "not_home", 0) for i in range(40)]
        refusals = [self.call(100 + i, "refused", 15, "person") for i in range(20)]
        talks = [self.call(120 + i, "canvassed", 140, "person", 2) for i in range(10)]
        result = check_short_calls(machines + no_answer + refusals + talks, POL)
        assert result is not None and not result.fired and result.detail["short"] == 0

    def test_a_machine_marked_as_a_contact_does_not_count_as_a_conversation(self):
        calls = [self.call(i, "canvassed", 9, "machine", 1) for i in range(8)]
        assert check_short_calls(calls, POL) is None

    def test_calls_without_a_duration_are_not_judged(self):
        calls = [obs(i, T0 + i * 60, channel="phone", result="canvassed") for i in range(20)]
        assert check_short_calls(calls, POL) is None


def test_shift_checks_runs_what_applies():
    names = {r.check for r in shift_checks(walk(30, 150), POL)}
    assert names == {
        "doors_per_hour",
        "door_gap",
        "same_time",
        "far_from_voter",
        "one_spot",
        "impossible_travel",
    }
    assert not any(r.fired for r in shift_checks(walk(30, 150), POL))
