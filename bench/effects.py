"""Coverage of the effect intervals over many synthetic programs, and the naive comparison's bias.

    python -m bench.effects [--seeds 500] [--voters 20000] [--holdout 0.1] [--breach 0.0]

Draws one program per seed (fieldstream.effects.synthetic: a planted effect of contact that varies
by channel and race, contact likelier for likely voters), estimates the ITT and the complier
effect overall and by channel, race and county, and prints per group: how often the 95% interval
covered the planted effect, the mean error of each estimate (its bias), the planted complier
effect, and the mean error of the naive contacted-vs-not difference beside it. Asserts nothing.
"""

from __future__ import annotations

import argparse
import time

from fieldstream.effects.coverage import run, table
from fieldstream.effects.synthetic import Plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=500)
    parser.add_argument("--voters", type=int, default=20_000)
    parser.add_argument("--holdout", type=float, default=0.1)
    parser.add_argument("--breach", type=float, default=0.0)
    args = parser.parse_args()
    plan = Plan(voters=args.voters, holdout=args.holdout, breach=args.breach)
    started = time.perf_counter()
    rows = table(run(plan, range(args.seeds)))
    seconds = time.perf_counter() - started
    print(
        f"{args.seeds} programs of {args.voters:,} voters, {args.holdout:g} held out, "
        f"{args.breach:g} breached, 95% intervals ({seconds:.0f}s)"
    )
    head = (
        f"{'group':<16} {'ITT cover':>9} {'CACE cover':>10} {'ITT bias':>9} {'CACE bias':>9} "
        f"{'CACE se':>8} {'true CACE':>9} {'naive bias':>10}"
    )
    print(head)
    for r in rows:
        print(
            f"{r['dimension']}={r['value']:<{15 - len(str(r['dimension']))}} "
            f"{r['itt_coverage']:>9.3f} {r['cace_coverage']:>10.3f} {r['itt_bias']:>+9.4f} "
            f"{r['cace_bias']:>+9.4f} {r['cace_se']:>8.4f} {r['true_cace']:>9.4f} "
            f"{r['naive_bias']:>+10.4f}"
        )


if __name__ == "__main__":
    main()
