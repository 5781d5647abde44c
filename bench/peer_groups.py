"""The quality checks' cost per contact as a peer group grows, beside the same checks with a
view of the group made for each canvasser judged.

    .venv/bin/python -m bench.peer_groups [--each 50] [--canvassers 20 100 400]

One door group (one org, campaign and day) of ``--canvassers`` canvassers, ``--each``
contacts each (one in twenty of them invents conversations: nearly every door a contact with a
strong-support ID), in time order over a four-hour shift, through
:class:`streams.quality.QualityMonitor` (``add`` in batches of 500, ``judge`` after each, a
settle at the end). Two contenders on the same contacts, alternating:

- pooled: the monitor as it runs (streams/quality/peers.py: one PeerView per group state,
  each canvasser's peer checks against it in a few look-ups);
- per canvasser: the same monitor whose book makes a view for every canvasser it judges
  (what the peer checks cost before: a pass over the group, and a sort, per canvasser).

Prints CPU ms per 1,000 contacts, each row's ratio, and whether both raised the same flags.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence

from streams.quality.model import Obs
from streams.quality.monitor import QualityMonitor
from streams.quality.peers import GroupKey, PeerBook, PeerView

START = 1_793_800_800.0  # 2026-11-03 14:00 UTC
RESULTS = ["canvassed", "not_home", "not_home", "not_home", "refused"]


class PerCanvasser(PeerBook):
    """A book that makes the group's view again for each canvasser it is asked about."""

    def view(self, key: GroupKey, min_peer_contacts: int) -> PeerView:
        return PeerView(self.groups[key], min_peer_contacts)


def contacts(each: int, canvassers: int, seed: int = 7) -> list[Obs]:
    rng = random.Random(seed)
    out = []
    n = each * canvassers
    for i in range(n):
        who = rng.randrange(canvassers)
        level: int | None
        if who % 20 == 19:  # invents conversations
            result, level = "canvassed", 1
        else:
            result = rng.choice(RESULTS)
            level = rng.randint(1, 5) if result == "canvassed" and rng.random() < 0.8 else None
        out.append(
            Obs(
                f"e{i}",
                "org",
                "gotv",
                "door",
                f"c{who}",
                START + i * 4 * 3600 / n,
                result,
                support_level=level,
                has_responses=level is not None,
            )
        )
    return out


def run(obs: Sequence[Obs], book: PeerBook) -> tuple[float, list[str]]:
    """CPU seconds of the monitor over ``obs``, and the flags it raised."""
    monitor = QualityMonitor()
    monitor.peers = book
    flags = []
    t0 = time.process_time()
    for k in range(0, len(obs), 500):
        for o in obs[k : k + 500]:
            monitor.add(o)
        flags += monitor.judge()
    flags += monitor.judge(everything=True)
    return time.process_time() - t0, sorted(f.flag_id for f in flags)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--each", type=int, default=50)
    ap.add_argument("--canvassers", type=int, nargs="+", default=[20, 100, 400])
    args = ap.parse_args()
    print(f"{'canvassers':>10}  {'pooled':>8}  {'per canvasser':>13}  ratio  same flags")
    for g in args.canvassers:
        obs = contacts(args.each, g)
        pooled, flags = run(obs, PeerBook())
        each, flags_each = run(obs, PerCanvasser())
        per = 1e6 / len(obs)
        print(
            f"{g:>10}  {pooled * per:>8.0f}  {each * per:>13.0f}  {each / pooled:>5.1f}  "
            f"{'yes' if flags == flags_each else 'NO'} ({len(flags)} flags)"
        )
    print("CPU ms per 1,000 contacts; ratio: per canvasser / pooled")


if __name__ == "__main__":
    main()
