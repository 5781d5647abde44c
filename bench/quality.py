"""How well the quality checks catch fabricated shifts, and how soon.

    python -m bench.quality                 # report: held-out seeds, every share and evidence
    python -m bench.quality --tune          # the tuning seeds, with what fires on honest shifts
    python -m bench.quality --seeds 101-103 --shares 0.15 --evidence full

Simulates field programs with known dishonest shifts (producers.demo.cheats.py: 2 campaigns x
2 days x 20 door and 8 phone shifts a seed), streams every contact in time order through
:class:`streams.quality.QualityMonitor`, and scores the flags per shift:

- precision: dishonest shifts among the flagged ones; recall: flagged among the dishonest, per
  pattern;
- time to flag: from a dishonest shift's first contact to the contact that raised its flag
  (event time, minutes), and the share flagged before the shift's last contact (while it was
  still running).

Three evidence levels: ``full`` (the canvasser's location, the voters' addresses, call
durations and machine detection), ``precinct`` (only precinct centroids for the voters) and
``none`` (no location, duration or machine detection: what VAN's canvassResponses carries).
Beside the checks, the field's rules of thumb (more than 26 doors an hour, a door contact rate
outside 10-30%) run on the same contacts as a baseline.

The thresholds in streams/quality/policy.py were set on TUNING_SEEDS; the report runs on
REPORT_SEEDS, and the two never meet. Also prints the monitor's throughput as a ratio to a loop
that only builds its inputs. Asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from producers.demo.cheats import Program, ProgramSpec, simulate_program
from streams.quality import Obs, QualityMonitor, obs_from_enriched
from streams.quality.monitor import local_day

TUNING_SEEDS = tuple(range(1, 6))
REPORT_SEEDS = tuple(range(101, 111))
SHARES = (0.05, 0.15, 0.30)
EVIDENCE = ("full", "precinct", "none")
assert not set(TUNING_SEEDS) & set(REPORT_SEEDS), "tuning and report seeds must differ"


def enriched(program: Program, evidence: str) -> list[dict]:
    """The program's contacts as the stream's enriched records, with what ``evidence`` keeps."""
    out = []
    for i, event in enumerate(program.events):
        contact = {**event, "event_id": f"e{i}"}
        place = program.voters.get(event["person"]["voter_id"], {})
        voter = dict(place)
        if evidence != "full":
            voter.pop("address_lat", None)
            voter.pop("address_lon", None)
        if evidence == "none":
            contact.update(location=None, call_duration_s=None, reached=None)
        out.append({"contact": contact, "voter": voter, "voter_matched": True})
    return out


@dataclass
class Outcome:
    """One run's verdict per true shift."""

    flagged: dict[str, float] = field(default_factory=dict)  # shift -> flagged_at
    fired: Counter[str] = field(default_factory=Counter)  # checks behind false flags
    contacts: int = 0
    seconds: float = 0.0


def _truth_key(org: str, campaign: str, canvasser: str, first_at: float) -> str:
    return f"{org}/{campaign}/{canvasser}/{local_day(first_at, 'UTC')}"


def run_checks(program: Program, obs: Sequence[Obs]) -> Outcome:
    monitor = QualityMonitor()
    out = Outcome(contacts=len(obs))
    started = time.perf_counter()
    flags = [f for o in obs for f in monitor.observe(o)]
    flags += monitor.judge(everything=True)  # the stream goes quiet, as the agent does then
    out.seconds = time.perf_counter() - started
    for f in flags:
        key = _truth_key(f.org_id, f.campaign_id, f.canvasser_id, f.first_contact_at)
        if key not in out.flagged:
            out.flagged[key] = f.flagged_at
            if program.shifts[key].pattern is None:
                out.fired.update(f.fired)
    return out


def run_rules_of_thumb(obs: Sequence[Obs]) -> Outcome:
    """The field's rules of thumb, incrementally: a door shift is flagged at the first contact
    after which it has run over 26 doors an hour (10+ doors, 15+ minutes) or has a contact
    rate outside 10-30% (20+ doors)."""
    out = Outcome(contacts=len(obs))
    runs: dict[tuple[str, str, str], tuple[str, list[Obs]]] = {}
    for o in obs:
        if o.channel != "door":
            continue
        who = (o.org_id, o.campaign_id, o.canvasser_id)
        if who not in runs or o.occurred_at - runs[who][1][-1].occurred_at > 3 * 3600:
            runs[who] = (_truth_key(*who, o.occurred_at), [])
        key, doors = runs[who]
        doors.append(o)
        if key in out.flagged:
            continue
        n, span = len(doors), doors[-1].occurred_at - doors[0].occurred_at
        fast = n >= 10 and span >= 900 and (n - 1) / span * 3600 > 26
        rate = sum(d.is_contact for d in doors) / n
        odd = n >= 20 and not 0.10 <= rate <= 0.30
        if fast or odd:
            out.flagged[key] = o.occurred_at
            out.fired.update(["rule_rate"] * fast + ["rule_contact_rate"] * odd)
    return out


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    honest: int = 0
    by_pattern: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    delays_min: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    running: dict[str, list[bool]] = field(default_factory=lambda: defaultdict(list))
    fired: Counter[str] = field(default_factory=Counter)

    def add(self, program: Program, outcome: Outcome) -> None:
        self.fired.update(outcome.fired)
        for key, truth in program.shifts.items():
            at = outcome.flagged.get(key)
            if truth.pattern is None:
                self.honest += 1
                self.fp += at is not None
                continue
            counts = self.by_pattern[f"{truth.channel}:{truth.pattern}"]
            counts[1] += 1
            if at is not None:
                self.tp += 1
                counts[0] += 1
                self.delays_min[f"{truth.channel}:{truth.pattern}"].append(
                    (at - truth.first_at) / 60
                )
                self.running[f"{truth.channel}:{truth.pattern}"].append(at < truth.last_at)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        total = sum(n for _, n in self.by_pattern.values())
        return self.tp / total if total else float("nan")


def _p90(xs: Sequence[float]) -> float:
    return statistics.quantiles(xs, n=10)[-1] if len(xs) >= 2 else (xs[0] if xs else float("nan"))


def evaluate(seeds: Iterable[int], share: float, evidence: str) -> tuple[Score, Score, float]:
    """(checks' score, rules of thumb's score, the input loop's throughput (enriched record ->
    Obs) divided by the monitor's)."""
    checks, rules = Score(), Score()
    mon_s = base_s = 0.0
    for seed in seeds:
        program = simulate_program(ProgramSpec(dishonest_share=share), random.Random(seed))
        records = enriched(program, evidence)
        started = time.perf_counter()
        obs = [o for o in map(obs_from_enriched, records) if o is not None]
        base_s += time.perf_counter() - started
        outcome = run_checks(program, obs)
        mon_s += outcome.seconds
        checks.add(program, outcome)
        rules.add(program, run_rules_of_thumb(obs))
    return checks, rules, base_s / mon_s if mon_s else float("nan")


def _fmt(x: float, digits: int = 2) -> str:
    return "  -  " if x != x else f"{x:.{digits}f}"


def report(
    seeds: Sequence[int], shares: Sequence[float], evidences: Sequence[str], show_fired: bool
) -> None:
    print(f"seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}), 112 shifts a seed")
    for evidence in evidences:
        print(f"\n== evidence: {evidence}")
        print(
            f"{'share':>6} {'pattern':<18} {'recall':>7} {'(n)':>5} {'ttf med':>8} "
            f"{'ttf p90':>8} {'running':>8}   {'rules: recall':>13}"
        )
        for share in shares:
            checks, rules, ratio = evaluate(seeds, share, evidence)
            for pattern in sorted(checks.by_pattern):
                hit, n = checks.by_pattern[pattern]
                delays = checks.delays_min.get(pattern, [])
                running = checks.running.get(pattern, [])
                rhit, _ = rules.by_pattern[pattern]
                print(
                    f"{share:>6.2f} {pattern:<18} {_fmt(hit / n):>7} {n:>5} "
                    f"{_fmt(statistics.median(delays) if delays else float('nan'), 0):>8} "
                    f"{_fmt(_p90(delays), 0):>8} "
                    f"{_fmt(sum(running) / len(running) if running else float('nan')):>8}   "
                    f"{_fmt(rhit / n):>13}"
                )
            print(
                f"{share:>6.2f} {'ALL':<18} {_fmt(checks.recall):>7}  precision "
                f"{_fmt(checks.precision)} (false flags {checks.fp} of {checks.honest} honest)"
                f" | rules: recall {_fmt(rules.recall)} precision {_fmt(rules.precision)} "
                f"(false {rules.fp}) | throughput vs input loop {ratio:.2f}"
            )
            if show_fired and checks.fired:
                print(f"{'':>6} checks on false flags: {dict(checks.fired.most_common())}")


def _seeds(text: str) -> tuple[int, ...]:
    lo, _, hi = text.partition("-")
    return tuple(range(int(lo), int(hi or lo) + 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tune", action="store_true", help="run the tuning seeds instead")
    ap.add_argument("--seeds", type=_seeds, help="a range such as 101-110")
    ap.add_argument("--shares", default=",".join(map(str, SHARES)))
    ap.add_argument("--evidence", default=",".join(EVIDENCE))
    args = ap.parse_args()
    seeds = args.seeds or (TUNING_SEEDS if args.tune else REPORT_SEEDS)
    if not args.tune and set(seeds) & set(TUNING_SEEDS):
        ap.error(f"seeds {sorted(set(seeds) & set(TUNING_SEEDS))} were used for tuning")
    report(
        seeds,
        [float(s) for s in args.shares.split(",")],
        args.evidence.split(","),
        show_fired=args.tune,
    )


if __name__ == "__main__":
    main()
