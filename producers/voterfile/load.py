"""Voter file (CSV or Parquet) -> Voter records on the compacted voters topic.

Loading streams the file twice in bounded memory (a batch of rows at a time): a validation
pass (every bad row with its line number, or its row number for Parquet; nothing is sent when
any row is bad, unless ``skip_bad``, which writes the rejects beside the file), then a send
pass that fills race/ethnicity by BISG where the mapping allows and no source gave them.

Reloading is safe: records are keyed state:voter_id on a compacted topic and carry the load
time as ``updated_at``, which the sink's ReplacingMergeTree keeps the latest of, so a changed
row replaces the voter and an unchanged one doubles nothing.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.kafka import ensure_topics, producer_config
from core.producer import KafkaWriter
from core.settings import KafkaSettings
from producers.progress import Update, progress_bar
from producers.voterfile.convert import convert
from producers.voterfile.fill import Predictor, fill, needs_bisg
from producers.voterfile.mapping import Mapping, load_mapping
from producers.voterfile.readers import BATCH_ROWS, open_rows
from schemas.codec import VOTER
from schemas.ids import voter_key
from schemas.registry import codec_for

log = logging.getLogger(__name__)

MAX_LISTED = 20


@dataclass(frozen=True)
class RowProblem:
    line: int  # CSV: the line the row starts on; Parquet: the row number (unit says which)
    problems: list[str]
    row: dict[str, str]
    unit: str = "line"

    def __str__(self) -> str:
        return f"{self.unit} {self.line}: {'; '.join(self.problems)}"


@dataclass
class LoadSummary:
    file: Path
    topic: str
    sent: int = 0
    rejected: int = 0
    seconds: float = 0.0
    rejects_file: Path | None = None
    bisg_filled: int = 0

    def __str__(self) -> str:
        extra = f", {self.rejected} rejected (see {self.rejects_file})" if self.rejected else ""
        bisg = f", {self.bisg_filled} with BISG race/ethnicity" if self.bisg_filled else ""
        return (
            f"{self.sent} voters from {self.file.name} sent to {self.topic} "
            f"in {self.seconds:.1f}s{bisg}{extra}"
        )


def resolve_mapping(
    mapping: Path | Mapping | None, *, preset: str | None = None, state: str | None = None
) -> Mapping:
    """The Mapping to load with: a file, a preset or the identity; ``state`` sets the default."""
    m = mapping if isinstance(mapping, Mapping) else load_mapping(mapping, preset=preset)
    return dataclasses.replace(m, default_state=state.upper()) if state else m


def read_batches(
    path: Path,
    mapping: Mapping,
    *,
    now: dt.datetime,
    bisg: Callable[[], Predictor] | None = None,
    batch_rows: int = BATCH_ROWS,
    on_batch: Callable[[int, int], None] | None = None,
) -> Iterator[list[dict[str, Any] | RowProblem]]:
    """Batches of Voter records and RowProblems; with ``bisg``, unknown race/ethnicity filled.

    ``bisg`` is called (once) only when some good row needs BISG; ``on_batch(done, total)``
    reports the reader's progress after each batch.
    """
    reader = open_rows(path, mapping)
    predictor: Predictor | None = None
    batch: list[dict[str, Any] | RowProblem] = []
    pending: list[tuple[dict[str, Any], dict[str, str]]] = []

    def flush() -> list[dict[str, Any] | RowProblem]:
        nonlocal predictor, batch, pending
        if pending and bisg is not None and mapping.bisg is not None:
            predictor = predictor or bisg()
            filled = fill(pending, mapping.bisg, predictor)
            log.debug("voter batch: %d rows, %d filled by BISG", len(batch), filled)
        out, batch, pending = batch, [], []
        if on_batch is not None:
            on_batch(*reader.progress())
        return out

    for position, raw in reader:
        rec, problems = convert(raw, mapping, now)
        if problems:
            batch.append(RowProblem(position, problems, raw, reader.unit))
        else:
            batch.append(rec)
            if bisg is not None and mapping.bisg is not None and needs_bisg(rec):
                pending.append((rec, raw))
        if len(batch) >= batch_rows:
            yield flush()
    if batch:
        yield flush()


def read_voters(
    path: Path,
    mapping: Path | Mapping | None,
    *,
    now: dt.datetime | None = None,
    preset: str | None = None,
    bisg: Predictor | bool = False,
) -> Iterator[dict[str, Any] | RowProblem]:
    """Each data row of ``path`` as a Voter record, or a RowProblem with its position.

    ``bisg``: True uses producers.bisg.Bisg, or pass a predictor; False leaves race and
    ethnicity as the file gives them (the validation pass needs no BISG).
    """
    m = resolve_mapping(mapping, preset=preset)
    for batch in read_batches(path, m, now=now or dt.datetime.now(dt.UTC), bisg=_bisg(bisg)):
        yield from batch


def _bisg(bisg: Predictor | bool) -> Callable[[], Predictor] | None:
    if bisg is False:
        return None
    if bisg is True:

        def make() -> Predictor:
            # imported here: BISG's tables load only when a file needs them
            from producers.bisg import Bisg

            return Bisg()

        return make
    predictor = bisg
    return lambda: predictor


def _validate(
    path: Path, m: Mapping, skip_bad: bool, update: Update
) -> tuple[int, int, Path | None]:
    good = bad = 0
    listed: list[str] = []
    rejects_path = path.with_name(path.stem + ".rejects.csv") if skip_bad else None
    writer = None
    out = rejects_path.open("w", newline="", encoding="utf-8") if rejects_path else None
    checking = f"checking {path.name}"
    try:
        now = dt.datetime.now(dt.UTC)
        for batch in read_batches(path, m, now=now, on_batch=lambda d, t: update(checking, d, t)):
            for item in batch:
                if not isinstance(item, RowProblem):
                    good += 1
                    continue
                bad += 1
                if len(listed) < MAX_LISTED:
                    listed.append(str(item))
                if out is not None:
                    if writer is None:
                        writer = csv.DictWriter(out, [item.unit, "problems", *item.row.keys()])
                        writer.writeheader()
                    writer.writerow(
                        {item.unit: item.line, "problems": "; ".join(item.problems)} | item.row
                    )
    finally:
        if out is not None:
            out.close()
    if bad and not skip_bad:
        more = f"\n... and {bad - len(listed)} more" if bad > len(listed) else ""
        raise InputError(
            f"voter file {path} has {bad} bad row(s); nothing was sent. Fix them, or load "
            f"with --skip-bad to send the good rows:\n" + "\n".join(listed) + more
        )
    return good, bad, rejects_path if bad else None


def load_voters(
    path: Path,
    mapping: Path | Mapping | None,
    kafka: KafkaSettings,
    *,
    preset: str | None = None,
    state: str | None = None,
    progress: bool = False,
    skip_bad: bool = False,
    bisg: Predictor | bool = True,
    batch_rows: int = BATCH_ROWS,
) -> LoadSummary:
    """Validate then send the voter file at ``path``; returns what was sent.

    BISG runs only when the mapping names ``bisg`` columns (``bisg=False`` turns it off).
    """
    started = time.monotonic()
    m = resolve_mapping(mapping, preset=preset, state=state)
    with progress_bar(progress) as update:
        good, bad, rejects = _validate(path, m, skip_bad, update)
        ensure_topics(kafka)
        topic, codec = kafka.topics.voters, codec_for(kafka.schema_registry_url)
        sender = KafkaWriter(producer_config(kafka))
        summary = LoadSummary(path, kafka.topics.voters, rejected=bad, rejects_file=rejects)
        now = dt.datetime.now(dt.UTC)
        sending = f"sending {path.name}"
        for batch in read_batches(path, m, now=now, bisg=_bisg(bisg), batch_rows=batch_rows):
            for item in batch:
                if isinstance(item, RowProblem):
                    continue
                key = voter_key(item["state"], item["voter_id"]).encode()
                sender.send(topic, key, codec.encode(VOTER, item))
                summary.sent += 1
                if item["race_source"] == "bisg" or item["ethnicity_source"] == "bisg":
                    summary.bisg_filled += 1
            sender.poll(0)
            update(sending, summary.sent, good)
        update("waiting for Kafka", summary.sent, good)
        sender.flush(noun=f"voters on {topic}")
    summary.seconds = time.monotonic() - started
    log.info(
        "voter file loaded: %d sent, %d rejected, %d BISG, %.1fs",
        summary.sent,
        summary.rejected,
        summary.bisg_filled,
        summary.seconds,
    )
    return summary
