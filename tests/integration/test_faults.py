"""Exact under faults, on the real embedded stack (Tansu, Faust, chDB): ``fieldstream up`` runs
as a subprocess, a sender that retries like a webhook sender keeps a steady load, and one
fault after another is injected from outside. After each, every figure is recounted against
what the sender saw acknowledged: nothing lost, nothing counted twice, every board figure equal
to the recount, and one dead letter per refused event.

The faults: SIGKILL of the stream, of the sink (three times in quick succession, so the kills
land during inserts), of the gateway and of the broker (every topic and offset gone: offsets
start again at 0, the voters come back from the store, the journal replays what was acked);
the store refusing every insert for longer than the sink's max.poll.interval; a clean stop and
start; and a SIGKILL of ``fieldstream up`` itself. The broker and ``up`` are killed while the
stream is stopped (SIGSTOP), so acknowledged events exist only in the broker's memory: only the
gateway's journal can bring them back. bench/soak.py runs the same drill longer.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories.drill import (
    DrillStack,
    Recount,
    Sender,
    recount,
    running_drill,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[tuple[DrillStack, Sender]]:
    with running_drill(tmp_path / "data", rate=60.0) as drill:
        yield drill


def steady(seconds: float) -> None:
    time.sleep(seconds)


def check(stack: DrillStack, sender: Sender, what: str, table: list[tuple[str, Recount]]) -> None:
    sender.pause()
    result = recount(stack, sender.ledger)
    table.append((what, result))
    assert result.exact, (what, result, stack.tail())
    sender.resume()


def test_counts_stay_exact_through_every_fault(drill: tuple[DrillStack, Sender]) -> None:
    stack, sender = drill
    table: list[tuple[str, Recount]] = []
    sender.start()
    steady(4)
    check(stack, sender, "steady load", table)

    def killed(name: str, then: Callable[[], None] | None = None) -> None:
        old = stack.kill(name)
        if then is not None:
            then()
        stack.wait_restarted(name, old)
        steady(2)
        check(stack, sender, f"SIGKILL {name}", table)

    killed("stream")
    killed("gateway")

    first = stack.kill("sink")
    for _ in range(2):  # in quick succession: some kills land during an insert
        pid = stack.wait_new_pid("sink", first)
        time.sleep(1.3)
        first = stack.kill("sink")
        assert first == pid
    stack.wait_restarted("sink", first)
    steady(2)
    check(stack, sender, "SIGKILL sink x3", table)

    # the broker, while the stream is behind (stopped): memory storage, so every topic,
    # offset, changelog and voter is gone, with acknowledged events the stream never read
    stack.kill("stream", signal.SIGSTOP)
    steady(3)
    killed("tansu")
    assert sender.ledger.good, "nothing was acknowledged"

    # the store refuses every insert for longer than the sink's max.poll.interval (10 s)
    fault = stack.settings.sink.fault_file
    assert fault is not None
    sink_log = stack.settings.data_dir / "logs" / "sink.log"
    assigned = sink_log.read_text().count(" assigned ")
    fault.touch()
    steady(15)
    fault.unlink()
    steady(2)
    check(stack, sender, "store down 15 s", table)
    log = sink_log.read_text()
    assert "paused, retrying" in log, "the outage was not felt"
    assert log.count(" assigned ") == assigned, "the sink left its group during the outage"

    sender.pause()
    stack.stop()
    stack.start()
    sender.resume()
    steady(3)
    check(stack, sender, "clean stop and start", table)

    stack.kill("stream", signal.SIGSTOP)  # behind again: acked events only in the broker
    steady(3)
    sender.pause()
    stack.kill_up()
    stack.start()
    sender.resume()
    steady(3)
    check(stack, sender, "SIGKILL up", table)

    print("\nfault | acked | lost | double counted | dead letters / rejected")
    for what, r in table:
        print(f"{what} | {r.acked} | {r.lost} | {r.double_counted} | {r.dead_letters}/{r.rejected}")
    assert sender.ledger.retries > 0, "no fault was felt by the sender"


def test_new_events_and_dead_letters_land_after_the_broker_restarts(
    drill: tuple[DrillStack, Sender],
) -> None:
    """Offsets start again at 0: insert tokens and dead-letter ids must not collide with the
    previous incarnation's, and enrichment must be the same for a copy sent again."""
    stack, sender = drill
    sender.start()
    steady(3)
    sender.pause()
    before = recount(stack, sender.ledger)
    assert before.exact, before
    store = stack.store()
    demographics = "SELECT source_event_id, race, precinct FROM contact_events ORDER BY 1"
    try:
        first = store.query(demographics)[1]
    finally:
        store.close()
    old = stack.kill("tansu", signal.SIGKILL)
    stack.wait_restarted("tansu", old)
    # the voters came back from the store (no one loaded the file again): copies of old
    # events sent again keep their count and their demographics
    with httpx.Client() as client:
        for batch in sender.sent_batches[:5]:
            sender.post(batch, client)
    sender.resume()
    steady(3)
    sender.pause()
    after = recount(stack, sender.ledger)
    assert after.exact, after
    assert after.acked > before.acked and after.rejected > before.rejected
    store = stack.store()
    try:
        rows = {r[0]: r for r in store.query(demographics)[1]}
    finally:
        store.close()
    assert all(rows[r[0]] == r for r in first), "an old contact changed after the restart"
    # a matched voter always has a precinct (race is "unknown" for some matched voters)
    matched = sum(1 for r in rows.values() if r[2] != "unknown")
    assert matched > 0.9 * len(rows), "new contacts were not enriched: voters did not come back"
