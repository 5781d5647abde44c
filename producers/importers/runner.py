"""The shared import loop: rows -> adapter -> the intake hallway -> Avro on contacts.raw.

Each importer supplies a pure row adapter (``adapt(row, ctx) -> list[Item]``, the contract of
producers/tools/base.py); this module does the rest, the same way for every tool:

- every canonical event is converted by the intake hallway (producers/intake.py) and produced
  Avro-encoded to ``kafka.topics.raw``, key = event id, with the project's producer config
  (acks=all, idempotent). Event ids come from (org, source system, source_event_id):
  re-importing a row gives the same id, and the pipeline's dedupe drops the copy.
- an :class:`Unmapped` item goes to ``kafka.topics.dlq`` as a DeadLetter (the hallway's).
- a bad row (PayloadError, or an event that does not fit the standard) does not stop a big
  export: it is counted with its line number and the import goes on; the summary names them.
- every ``chunk_rows`` rows the producer is flushed and, once Kafka acked everything, the
  checkpoint is written: a re-run resumes after the last acked row. ``stop_after`` stops after
  that many rows (used to simulate an interrupted run).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from core.errors import InputError
from core.kafka import ensure_topics, producer_config
from core.producer import KafkaWriter
from core.settings import KafkaSettings
from producers.importers import checkpoint as cp
from producers.intake import Hallway, Origin, import_topic
from producers.progress import progress_bar
from producers.tools.base import AdapterContext, Item
from schemas.registry import codec_for

log = logging.getLogger(__name__)

Adapter = Callable[[dict[str, Any], AdapterContext], list[Item]]
Row = tuple[int, dict[str, Any]]  # (line number or sequence number, the row)
MAX_LISTED = 20


@dataclass(frozen=True)
class BadRow:
    line: int
    problem: str  # names fields and codes, never values of personal data

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


@dataclass
class ImportSummary:
    source: str
    topic: str
    sent: int = 0  # events acked in this run
    dead_lettered: int = 0  # unmapped rows sent to the DLQ in this run
    skipped: int = 0  # rows before the checkpoint, not read again
    bad: list[BadRow] = field(default_factory=list)  # bad rows of this run (first 1000)
    bad_total: int = 0  # bad rows over all runs of this checkpoint
    bad_lines: list[int] = field(default_factory=list)  # their line numbers (first 1000)
    last_line: int = 0
    complete: bool = False  # False when stopped early (stop_after) before the end
    seconds: float = 0.0
    run: str = ""  # this run's id, on every event it sent (fieldstream void --import-run)

    def __str__(self) -> str:
        text = (
            f"{self.sent} events from {self.source} sent to {self.topic} in {self.seconds:.1f}s"
            f", {self.dead_lettered} unmapped to the DLQ (import run {self.run})"
        )
        if self.skipped:
            text += f", {self.skipped} rows skipped (already imported, see the checkpoint)"
        if self.bad_total:
            lines = ", ".join(str(n) for n in self.bad_lines[:MAX_LISTED])
            more = " ..." if self.bad_total > MAX_LISTED else ""
            text += f"; {self.bad_total} bad row(s), not imported, at line(s) {lines}{more}"
        if not self.complete:
            text += f"; stopped after line {self.last_line}: run again to resume"
        return text


def run_rows(
    rows: Iterable[Row],
    adapt: Adapter,
    ctx: AdapterContext,
    kafka: KafkaSettings,
    *,
    source: str,
    checkpoint_path: Path | None,
    restart: bool = False,
    stop_after: int | None = None,
    chunk_rows: int = 5000,
    measure: Callable[[], tuple[int, int]] | None = None,
    progress: bool = False,
    clock: Callable[[], float] = time.time,
    sender: KafkaWriter | None = None,
    state: cp.Checkpoint | None = None,
) -> ImportSummary:
    """Import ``rows`` (numbered, in order) from ``source``; resumable through the checkpoint.

    ``measure``: (done, total) of the input for the progress bar (bytes for a file); without
    it the bar counts rows.

    ``state``: a checkpoint the caller loaded (a poller keeping its own mark), counted into
    instead of the one at ``checkpoint_path``.
    """
    started = time.monotonic()
    if state is None:
        state = cp.Checkpoint(source=source)
        if checkpoint_path is not None and not restart:
            state = cp.load(checkpoint_path, source)
    ensure_topics(kafka)
    out = sender or KafkaWriter(producer_config(kafka))
    hallway = Hallway(codec_for(kafka.schema_registry_url))
    run = f"{clock():.0f}-{uuid.uuid4().hex[:8]}"
    summary = ImportSummary(source, kafka.topics.raw, last_line=state.line, run=run)
    dlq_topic = import_topic(source)
    pending = 0  # rows handled since the last checkpoint
    done = 0  # rows handled in this run

    def commit(last_line: int, complete: bool) -> None:
        out.flush()
        state.line, state.complete = last_line, complete
        summary.last_line = last_line
        if checkpoint_path is not None:
            cp.save(checkpoint_path, state)

    def handle(line: int, row: dict[str, Any]) -> None:
        now_ms = int(clock() * 1000)
        try:
            items = adapt(row, ctx)
        except InputError as exc:
            _bad(state, summary, line, str(exc))
            return
        for item in items:
            if isinstance(item, dict):
                item.setdefault("import_run", run)
        origin = Origin(ctx.source_id, ctx.org_id, ctx.source_system, dlq_topic, offset=line)
        prepared = hallway.prepare(items, origin, orjson.dumps(row, default=str), now_ms)
        if prepared.problems:
            _bad(
                state,
                summary,
                line,
                "; ".join(f"{p.field}: {p.problem}" for p in prepared.problems),
            )
            return
        for key, value in prepared.raw:
            out.send(kafka.topics.raw, key, value)
        for key, value in prepared.dlq:
            out.send(kafka.topics.dlq, key, value)
        out.poll(0)
        state.sent += len(prepared.raw)
        summary.sent += len(prepared.raw)
        state.dead_lettered += len(prepared.dlq)
        summary.dead_lettered += len(prepared.dlq)

    last = state.line
    with progress_bar(progress) as update:
        description = f"importing {source}"
        update(description, 0, None)
        stopped = False
        for line, row in rows:
            if line <= state.line:
                summary.skipped += 1
                continue
            handle(line, row)
            last, pending, done = line, pending + 1, done + 1
            if pending >= chunk_rows:
                commit(last, False)
                pending = 0
            if progress and done % 200 == 0:
                update(description, *(measure() if measure else (done + summary.skipped, None)))
            if stop_after is not None and done >= stop_after:
                stopped = True
                break
        commit(last, not stopped)
    summary.complete = not stopped
    summary.bad_total, summary.bad_lines = state.bad, list(state.bad_lines)
    summary.seconds = time.monotonic() - started
    log.info(
        "import %s: %d sent, %d unmapped, %d bad, %d skipped, last line %d",
        source,
        summary.sent,
        summary.dead_lettered,
        len(summary.bad),
        summary.skipped,
        summary.last_line,
    )
    return summary


def _bad(state: cp.Checkpoint, summary: ImportSummary, line: int, problem: str) -> None:
    state.add_bad(line)
    if len(summary.bad) < cp.MAX_BAD_LINES:
        summary.bad.append(BadRow(line, problem))


class CsvExport:
    """The data rows of the CSV export at ``path``, each with the line it starts on (header =
    1); :meth:`progress` says how far reading got in bytes, for the progress bar."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw: io.BufferedReader | None = None
        self._size = 0

    def progress(self) -> tuple[int, int]:
        """(bytes read, file size) while the file is being read."""
        done = self._raw.tell() if self._raw is not None and not self._raw.closed else 0
        return min(done, self._size), self._size

    def __iter__(self) -> Iterator[Row]:
        try:
            binary = self.path.open("rb")
        except FileNotFoundError:
            raise InputError(f"input file {self.path} does not exist") from None
        with binary:
            self._raw, self._size = binary, os.fstat(binary.fileno()).st_size
            reader = csv.DictReader(io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""))
            if not reader.fieldnames:
                raise InputError(f"input file {self.path} is empty: it needs a header row")
            line = reader.line_num
            for raw in reader:
                yield line + 1, {k: v for k, v in raw.items() if k is not None}
                line = reader.line_num


def read_csv(path: Path) -> CsvExport:
    """Each data row of the CSV at ``path`` with the line number it starts on (header = 1)."""
    return CsvExport(path)


def import_csv(
    path: Path,
    adapt: Adapter,
    ctx: AdapterContext,
    kafka: KafkaSettings,
    *,
    checkpoint_path: Path | None = None,
    restart: bool = False,
    stop_after: int | None = None,
    progress: bool = False,
    chunk_rows: int = 5000,
) -> ImportSummary:
    """Import the CSV export at ``path`` with ``adapt``; the checkpoint defaults to
    ``<path>.fieldstream-checkpoint``."""
    rows = read_csv(path)
    return run_rows(
        rows,
        adapt,
        ctx,
        kafka,
        source=path.name,
        checkpoint_path=checkpoint_path or cp.default_path(path),
        restart=restart,
        stop_after=stop_after,
        chunk_rows=chunk_rows,
        measure=rows.progress,
        progress=progress,
    )
