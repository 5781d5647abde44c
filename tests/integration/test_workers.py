"""Several workers in one group, on the real embedded stack: ``fieldstream up --workers 2`` runs
two stream workers and two sink consumers over four partitions under a steady load. One worker
hangs (SIGSTOP): its partitions move to the other, which then holds all four; it is killed
(SIGKILL) and started again by ``up``, and the partitions are shared again. Then the other
worker is killed outright. After each step every stored count, every rollup and
``goal_progress`` equal a recount of what the sender saw acknowledged (tests/factories/drill.py).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories.drill import (
    DrillStack,
    Recount,
    Sender,
    recount,
    running_drill,
)
from tests.factories.stream import wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 4
ASSIGNED = "fieldstream_stream_assigned_partitions"


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[tuple[DrillStack, Sender]]:
    with running_drill(tmp_path / "data", workers=2, partitions=PARTITIONS, rate=60.0) as drill:
        yield drill


def held(stack: DrillStack) -> dict[str, float | None]:
    return {name: stack.metric(name, ASSIGNED) for name in ("stream", "stream-2")}


def exact(stack: DrillStack, sender: Sender, what: str, table: list[tuple[str, Recount]]) -> None:
    sender.pause()
    result = recount(stack, sender.ledger)
    table.append((what, result))
    assert result.exact, (what, result, stack.tail())
    sender.resume()


def test_a_killed_worker_hands_its_partitions_over_and_counts_stay_exact(
    drill: tuple[DrillStack, Sender],
) -> None:
    stack, sender = drill
    table: list[tuple[str, Recount]] = []
    assert set(stack.pids()) >= {"stream", "stream-2", "sink", "gateway"}
    sender.start()
    wait_until(
        lambda: (
            all((n or 0) >= 1 for n in held(stack).values())
            and sum(n or 0 for n in held(stack).values()) == PARTITIONS
        ),
        120,
        "both workers to hold partitions",
    )
    time.sleep(3)
    exact(stack, sender, "two workers", table)

    # worker 2 hangs: the group drops it and worker 1 takes its partitions, under load
    hung = stack.kill("stream-2", signal.SIGSTOP)
    wait_until(
        lambda: stack.metric("stream", ASSIGNED) == PARTITIONS,
        120,
        "worker 1 to take over every partition",
    )
    time.sleep(3)
    exact(stack, sender, "worker 2 hung, worker 1 holds all", table)

    stack.kill("stream-2")  # SIGKILL: up starts it again and the group shares again
    stack.wait_restarted("stream-2", hung)
    wait_until(
        lambda: all((n or 0) >= 1 for n in held(stack).values()),
        120,
        "the restarted worker to hold partitions again",
    )
    time.sleep(2)
    exact(stack, sender, "worker 2 killed and back", table)

    first = stack.kill("stream")  # SIGKILL under load, no warning
    stack.wait_restarted("stream", first)
    time.sleep(2)
    exact(stack, sender, "worker 1 killed", table)

    log = (stack.settings.data_dir / "logs" / "sink.log").read_text()
    assert "consumer-1: assigned" in log and "consumer-2: assigned" in log, "one sink consumer"
    print("\nstep | acked | lost | double counted | dead letters / rejected")
    for what, r in table:
        print(f"{what} | {r.acked} | {r.lost} | {r.double_counted} | {r.dead_letters}/{r.rejected}")
    assert table[-1][1].acked > table[0][1].acked, "the load did not go on"
