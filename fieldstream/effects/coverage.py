"""Do the intervals cover the planted effect at their nominal rate? Many seeds, one table.

For each seed a program is drawn (fieldstream.effects.synthetic), its effects estimated overall
and by channel, race and county exactly as the report does, and each interval checked against
the effect planted in that group of that draw. The naive contacted-vs-not difference is set
beside the complier effect it pretends to measure, so its bias shows in the same table.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from fieldstream.effects.estimate import LEVEL, Arm, Effect, effect, effects_by
from fieldstream.effects.synthetic import Plan, Program, draw

OVERALL = ("overall", "all")


@dataclass
class Tally:
    """One group's record over the seeds."""

    seeds: int = 0
    itt_covered: int = 0
    cace_covered: int = 0
    cace_seeds: int = 0
    itt_error: list[float] = field(default_factory=list)
    cace_error: list[float] = field(default_factory=list)
    naive_error: list[float] = field(default_factory=list)
    truth_cace: list[float] = field(default_factory=list)
    cace_se: list[float] = field(default_factory=list)

    def add(self, est: Effect, itt: float, cace: float) -> None:
        self.seeds += 1
        self.itt_covered += est.itt.covers(itt)
        self.itt_error.append(est.itt.value - itt)
        if not math.isnan(est.cace.value) and not math.isnan(cace):
            self.cace_seeds += 1
            self.cace_covered += est.cace.covers(cace)
            self.cace_error.append(est.cace.value - cace)
            self.cace_se.append(est.cace.se)
        if not math.isnan(est.naive) and not math.isnan(cace):
            self.naive_error.append(est.naive - cace)
            self.truth_cace.append(cace)

    @property
    def itt_coverage(self) -> float:
        return self.itt_covered / self.seeds if self.seeds else math.nan

    @property
    def cace_coverage(self) -> float:
        return self.cace_covered / self.cace_seeds if self.cace_seeds else math.nan

    @staticmethod
    def mean(values: list[float]) -> float:
        return float(np.mean(values)) if values else math.nan


def overall(program: Program) -> Effect:
    h = program.held_out
    return effect(
        Arm.of(program.voted[~h], program.contacted[~h]),
        Arm.of(program.voted[h], program.contacted[h]),
    )


def run(plan: Plan, seeds: Iterable[int], level: float = LEVEL) -> dict[tuple[str, str], Tally]:
    """Per (dimension, value): coverage of the ITT and CACE intervals, and the errors."""
    tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
    for seed in seeds:
        program = draw(plan, seed)
        tallies[OVERALL].add(overall(program), program.true_itt(), program.true_cace())
        for dimension, values in program.groups().items():
            found = effects_by(values, program.held_out, program.voted, program.contacted, level)
            for value, est in found.items():
                mask = values == value
                tallies[(dimension, str(value))].add(
                    est, program.true_itt(mask), program.true_cace(mask)
                )
    return dict(tallies)


def table(tallies: dict[tuple[str, str], Tally]) -> list[dict[str, object]]:
    """Rows for printing: coverage, mean errors (bias) and the naive comparison's bias."""
    rows = []
    for (dimension, value), t in sorted(tallies.items(), key=lambda kv: (kv[0] != OVERALL, kv[0])):
        rows.append(
            {
                "dimension": dimension,
                "value": value,
                "seeds": t.seeds,
                "itt_coverage": t.itt_coverage,
                "cace_coverage": t.cace_coverage,
                "itt_bias": t.mean(t.itt_error),
                "cace_bias": t.mean(t.cace_error),
                "cace_se": t.mean(t.cace_se),
                "true_cace": t.mean(t.truth_cace),
                "naive_bias": t.mean(t.naive_error),
            }
        )
    return rows
