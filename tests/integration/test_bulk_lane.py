"""The bulk lane on the real embedded stack: an import (the shared import loop, producers/
importers/runner.py) goes to contacts.raw.bulk while live traffic keeps flowing through the
gateway; the same stream (its own agent, the same dedupe table) and the same sink (large
batches, the same ledger and insert tokens) store it. Events sent on both lanes are stored
once, and every count equals the recount of what was acknowledged, live and imported."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from producers.importers.runner import run_rows
from producers.tools.base import AdapterContext
from tests.factories.drill import (
    ORG,
    SOURCE,
    DrillStack,
    Sender,
    recount,
    running_drill,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[tuple[DrillStack, Sender]]:
    with running_drill(tmp_path / "data", rate=40.0) as drill:
        yield drill


def test_an_import_on_the_bulk_lane_is_stored_once_beside_live_traffic(
    drill: tuple[DrillStack, Sender],
) -> None:
    stack, sender = drill
    sender.start()
    time.sleep(3)
    live_before = dict(sender.ledger.good)
    assert live_before, "nothing was acknowledged on the live lane"

    # an export of 3,000 new contacts plus 200 the live lane already carried
    importer = Sender(stack, sender.voters, bad_share=0.0, seed=9, start_at=1_000_000)
    fresh = [importer.event() for _ in range(3000)]
    copies = list(live_before.values())[:200]
    rows = list(enumerate([*fresh, *copies], start=2))
    ctx = AdapterContext(source_id=SOURCE, org_id=ORG, source_system="drill")
    summary = run_rows(
        rows,
        lambda row, _ctx: [row],
        ctx,
        stack.settings.kafka,
        source="drill-export",
        checkpoint_path=None,
    )
    assert summary.topic == stack.settings.kafka.topics.raw_bulk
    assert summary.sent == len(rows) and summary.complete
    for ev in fresh:
        sender.ledger.good[ev["source_event_id"]] = ev
    time.sleep(3)  # live traffic goes on while the import is stored

    sender.pause()
    result = recount(stack, sender.ledger)
    assert result.exact, (result, stack.tail())
    assert result.stored == len(sender.ledger.good)
    sink_log = (stack.settings.data_dir / "logs" / "sink.log").read_text()
    flushed = [line for line in sink_log.splitlines() if " flushed " in line]
    bulk = stack.settings.kafka.topics.enriched_bulk
    assert any(f" {bulk}:" in line for line in flushed), "the import took another lane"
    live = stack.settings.kafka.topics.enriched
    assert any(f" {live}:" in line for line in flushed)
    assert not any(f" {bulk}:" in line and f" {live}:" in line for line in flushed), (
        "the lanes were written together"
    )
