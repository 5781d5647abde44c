"""The shared import loop: rows -> adapter -> the intake hallway -> Avro on the bulk lane.

Each importer supplies a pure row adapter (``adapt(row, ctx) -> list[Item]``, the contract of
producers/tools/base.py); this module does the rest, the same way for every tool:

- every canonical event is converted by the intake hallway (producers/intake.py) and produced
  Avro-encoded to ``kafka.topics.raw_bulk`` (the bulk lane: the same stream and sink, in large
  batches, beside the live lane), key = event id, with the project's producer config
  (acks=all, idempotent). Event ids come from (org, source system, source_event_id):
  re-importing a row gives the same id, and the pipeline's dedupe drops the copy.
- an :class:`Unmapped` item goes to ``kafka.topics.dlq`` as a DeadLetter (the hallway's);
  person signals and volunteer shifts go to their own topics, never to contacts.raw (an opt-in
  or opt-out is sent even from a row that is otherwise bad).
- a bad row (PayloadError, or an event that does not fit the standard) does not stop a big
  export: it is counted with its line number and the import goes on. Every bad row and its
  reason goes to the rejects file beside the checkpoint (``<name>.rejects.csv``); the summary
  shows the first :data:`MAX_LISTED` with their reasons and says where the rest are.
- every ``chunk_rows`` rows the producer is flushed and, once Kafka acked everything, the
  checkpoint is written: a re-run resumes after the last acked row. ``stop_after`` stops after
  that many rows (used to simulate an interrupted run).
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

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
MAX_LISTED = 20  # bad rows shown with their reasons on screen (all are in the rejects file)
MAX_REASON = 300  # characters of one reason on screen


@dataclass(frozen=True)
class BadRow:
    line: int
    problem: str  # names fields and codes, never values of personal data

    def __str__(self) -> str:
        problem = self.problem
        if len(problem) > MAX_REASON:
            problem = problem[: MAX_REASON - 3] + "..."
        return f"line {self.line}: {problem}"


@dataclass
class ImportSummary:
    source: str
    topic: str
    sent: int = 0  # events acked in this run
    dead_lettered: int = 0  # unmapped rows sent to the DLQ in this run
    signals: int = 0  # person signals sent in this run
    shifts: int = 0  # volunteer shift states sent in this run
    partial: int = 0  # of those, contacts counted with only survey answers held
    skipped: int = 0  # rows before the checkpoint, not read again
    bad: list[BadRow] = field(default_factory=list)  # bad rows of this run (first 1000)
    bad_total: int = 0  # bad rows over all runs of this checkpoint
    bad_lines: list[int] = field(default_factory=list)  # their line numbers (first 1000)
    last_line: int = 0
    complete: bool = False  # False when stopped early (stop_after) before the end
    seconds: float = 0.0
    run: str = ""  # this run's id, on every event it sent (fieldstream void --import-run)
    rejects_file: Path | None = None  # every bad row with its reason
    notes: list[str] = field(default_factory=list)  # what an importer read but did not import

    @property
    def rejected(self) -> bool:
        """Rows of this import were refused (the command exits non-zero)."""
        return self.bad_total > 0

    def __str__(self) -> str:
        sent = [f"{n} {what}" for n, what in ((self.shifts, "shift states"),
                (self.signals, "person signals")) if n]  # fmt: skip
        if self.sent or not sent:  # an export of shifts alone sends no contact events
            sent.insert(0, f"{self.sent} events to {self.topic}")
        text = (
            f"{self.source}: sent {' and '.join(sent)} in {self.seconds:.1f}s"
            f", {self.dead_lettered} held to the DLQ (fieldstream dlq list)"
            f" (import run {self.run})"
        )
        if self.partial:
            text += f", of which {self.partial} counted with only survey answers held"
        if self.skipped:
            text += f", {self.skipped} rows skipped (already imported, see the checkpoint)"
        for note in self.notes:
            text += f"; {note}"
        if not self.complete:
            text += f"; stopped after line {self.last_line}: run again to resume"
        if self.bad_total:
            text += f"\n{self.bad_total} bad row(s), not imported"
            earlier = self.bad_total - len(self.bad)
            if earlier > 0:
                text += f" ({earlier} in earlier runs of this import)"
            text += ":"
            text += "".join(f"\n  {row}" for row in self.bad[:MAX_LISTED])
            more = len(self.bad) - MAX_LISTED
            if more > 0:
                text += f"\n  ... and {more} more"
            if self.rejects_file is not None:
                text += f"\nEvery bad row with its reason: {self.rejects_file}"
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
    spec: dict[str, Any] | None = None,
    rejects_path: Path | None = None,
) -> ImportSummary:
    """Import ``rows`` (numbered, in order) of the import named ``source``; resumable through
    the checkpoint.

    ``measure``: (done, total) of the input for the progress bar (bytes for a file); without
    it the bar counts rows.

    ``state``: a checkpoint the caller loaded (a poller keeping its own mark), counted into
    instead of the one at ``checkpoint_path``.

    ``spec``: what the import is (kept in the checkpoint for a replay; its
    ``partial_contacts: hold`` holds partial contacts whole). ``rejects_path``: where every
    bad row goes with its reason (default: beside the checkpoint, when there is one).
    """
    started = time.monotonic()
    if state is None:
        state = cp.Checkpoint(source=source)
        if checkpoint_path is not None and not restart:
            state = cp.load(checkpoint_path, source)
    if spec is not None:
        state.spec = dict(spec)
    if rejects_path is None and checkpoint_path is not None:
        rejects_path = cp.rejects_path(checkpoint_path)
    ensure_topics(kafka)
    out = sender or KafkaWriter(producer_config(kafka))
    hallway = Hallway(codec_for(kafka.schema_registry_url))
    run = f"{clock():.0f}-{uuid.uuid4().hex[:8]}"
    summary = ImportSummary(
        source, kafka.topics.raw_bulk, last_line=state.line, rejects_file=rejects_path, run=run
    )
    dlq_topic = import_topic(source)
    hold = state.spec.get("partial_contacts") == "hold"
    pending = 0  # rows handled since the last checkpoint
    done = 0  # rows handled in this run
    rejects = _Rejects(rejects_path, fresh=state.line == 0)

    def commit(last_line: int, complete: bool) -> None:
        out.flush()
        rejects.flush()
        state.line, state.complete = last_line, complete
        summary.last_line = last_line
        if checkpoint_path is not None:
            cp.save(checkpoint_path, state)

    def bad(line: int, problem: str) -> None:
        state.add_bad(line)
        rejects.write(line, problem)
        if len(summary.bad) < cp.MAX_BAD_LINES:
            summary.bad.append(BadRow(line, problem))

    def handle(line: int, row: dict[str, Any]) -> None:
        now_ms = int(clock() * 1000)
        try:
            items = adapt(row, ctx)
        except InputError as exc:
            bad(line, str(exc))
            return
        for item in items:
            if isinstance(item, dict):
                item.setdefault("import_run", run)
        origin = Origin(
            ctx.source_id, ctx.org_id, ctx.source_system, dlq_topic, offset=line, hold_partial=hold
        )
        prepared = hallway.prepare(items, origin, orjson.dumps(row, default=str), now_ms)
        for key, value in prepared.signals:
            out.send(kafka.topics.signals, key, value)
        summary.signals += len(prepared.signals)
        if prepared.problems:
            bad(line, "; ".join(f"{p.field}: {p.problem}" for p in prepared.problems))
            return
        for key, value in prepared.raw:
            out.send(kafka.topics.raw_bulk, key, value)
        for key, value in prepared.dlq:
            out.send(kafka.topics.dlq, key, value)
        for key, value in prepared.shifts:
            out.send(kafka.topics.shifts, key, value)
        summary.shifts += len(prepared.shifts)
        out.poll(0)
        state.sent += len(prepared.raw)
        summary.sent += len(prepared.raw)
        state.dead_lettered += len(prepared.dlq)
        summary.dead_lettered += len(prepared.dlq)
        summary.partial += prepared.partial

    last = state.line
    with rejects, progress_bar(progress) as update:
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


def import_spec(tool: str, kind: str, name: str, **settings: Any) -> dict[str, Any]:
    """What an import is, kept in its checkpoint so ``fieldstream dlq replay`` can rebuild its
    row adapter (the tool's ``importer``) and context: the tool, the kind of import, its name,
    and its settings (org_id, campaign_id, state, options, files, codes or mapping file,
    partial_contacts). Paths are kept absolute; None values are left out."""
    spec: dict[str, Any] = {"tool": tool, "kind": kind, "name": name}
    for key, value in settings.items():
        if value is None:
            continue
        if key == "files":
            value = [str(Path(f).resolve()) for f in value]
        elif isinstance(value, Path):
            value = str(value.resolve())
        spec[key] = value
    return spec


def import_context(spec: dict[str, Any]) -> AdapterContext:
    """The adapter context of the import ``spec`` describes (one for the whole import)."""
    return AdapterContext(
        source_id=f"import:{spec['name']}",
        org_id=str(spec["org_id"]),
        source_system=str(spec.get("source_system") or spec["tool"]),
        campaign_id=spec.get("campaign_id"),
        state=spec.get("state"),
        options=dict(spec.get("options") or {}),
    )


class _Rejects(contextlib.AbstractContextManager["_Rejects"]):
    """The rejects file: a CSV of every bad row's line and reason, started afresh with the
    import (and kept across resumed runs of it); nothing when there is no path."""

    def __init__(self, path: Path | None, fresh: bool) -> None:
        self.path, self.fresh = path, fresh
        self._file: IO[str] | None = None
        self._writer: Any = None

    def write(self, line: int, problem: str) -> None:
        if self.path is None:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = self.fresh or not self.path.exists()
            self._file = self.path.open("w" if new else "a", encoding="utf-8", newline="")
            self._writer = csv.writer(self._file)
            if new:
                self._writer.writerow(["line", "problem"])
            self.fresh = False
        self._writer.writerow([line, problem])

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        elif self.fresh and self.path is not None and self.path.exists():
            self.path.unlink()  # a fresh run without bad rows leaves no stale rejects


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
    source: str | None = None,
    checkpoint_path: Path | None = None,
    spec: dict[str, Any] | None = None,
    restart: bool = False,
    stop_after: int | None = None,
    progress: bool = False,
    chunk_rows: int = 5000,
) -> ImportSummary:
    """Import the CSV export at ``path`` with ``adapt`` as the import named ``source``
    (default: :func:`checkpoint.import_name` of the path); resumable when given a checkpoint
    (``fieldstream import`` keeps it in the data directory)."""
    rows = read_csv(path)
    return run_rows(
        rows,
        adapt,
        ctx,
        kafka,
        source=source or cp.import_name([path]),
        checkpoint_path=checkpoint_path,
        spec=spec,
        restart=restart,
        stop_after=stop_after,
        chunk_rows=chunk_rows,
        measure=rows.progress,
        progress=progress,
    )
