"""The support model on synthetic IDs with a known rule: its cross-validated margin over seeds.

    python -m bench.models [--seeds 5] [--voters 30000] [--canvassed 0.2]

Per seed: a voter file (fieldstream.models.synthetic), a random share canvassed with IDs drawn
from the generating rule, 5-fold cross-validation of the support model. Prints AUC, accuracy
beside the majority class, the Brier skill score, the rule's own AUC on the same IDs (the
ceiling any model could reach) and the seconds each took; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

from sklearn.metrics import roc_auc_score

from fieldstream.models.features import feature_names, prepare
from fieldstream.models.synthetic import ids, voters
from fieldstream.models.train import validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--voters", type=int, default=30_000)
    parser.add_argument("--canvassed", type=float, default=0.2)
    args = parser.parse_args()
    print(
        f"{'seed':>4} {'IDs':>6} {'AUC':>6} {'rule AUC':>8} {'accuracy':>8} {'majority':>8} "
        f"{'margin':>7} {'Brier skill':>11} {'seconds':>7}"
    )
    margins = []
    for seed in range(1, args.seeds + 1):
        labelled = ids(voters(args.voters, seed), args.canvassed, seed)
        started = time.perf_counter()
        v = validate(prepare(labelled, feature_names("support")), labelled["label"], seed=seed)
        seconds = time.perf_counter() - started
        rule = roc_auc_score(labelled["label"], labelled["true_p"])
        margins.append(v.accuracy_margin)
        print(
            f"{seed:>4} {v.labelled:>6,} {v.auc:>6.3f} {rule:>8.3f} {v.accuracy:>8.3f} "
            f"{v.baseline_accuracy:>8.3f} {v.accuracy_margin:>+7.3f} {v.brier_skill:>11.3f} "
            f"{seconds:>7.1f}"
        )
    print(f"accuracy margin over the majority class: min {min(margins):+.3f}, "
          f"mean {sum(margins) / len(margins):+.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
