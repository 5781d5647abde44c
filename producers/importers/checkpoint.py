"""Where an import got to: a small JSON file, written atomically after Kafka acked.

A file import records the last line whose message (and every message before it) Kafka has
acknowledged; a re-run resumes after it. A poller records its high-water mark (for Mobilize,
``updated_since``) in ``state``. The file is replaced with ``os.replace`` after an fsync, so a
crash leaves either the old checkpoint or the new one, never half of one.

Bad rows found so far are kept too (their line numbers, capped), so the report at the end of
a resumed import still names the bad rows of the first run.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError

SUFFIX = ".fieldstream-checkpoint"
VERSION = 1
MAX_BAD_LINES = 1000


@dataclass
class Checkpoint:
    """What an import has done so far. ``line`` 0 means nothing acked yet."""

    source: str  # the file name or the API endpoint the checkpoint belongs to
    line: int = 0  # the last line (or sequence number) acked by Kafka
    sent: int = 0  # canonical events acked so far
    dead_lettered: int = 0  # unmapped rows acked on the DLQ so far
    bad: int = 0  # rows refused so far
    bad_lines: list[int] = field(default_factory=list)  # their line numbers (first 1000)
    complete: bool = False  # the whole input was read and acked
    state: dict[str, Any] = field(default_factory=dict)  # a poller's high-water mark

    def add_bad(self, line: int) -> None:
        self.bad += 1
        if len(self.bad_lines) < MAX_BAD_LINES:
            self.bad_lines.append(line)


def default_path(input_path: Path) -> Path:
    """``<input>.fieldstream-checkpoint`` next to the input file."""
    return input_path.with_name(input_path.name + SUFFIX)


def load(path: Path, source: str) -> Checkpoint:
    """The checkpoint at ``path`` for ``source``, or a fresh one when there is none.

    A checkpoint written for another source is refused (ConfigError): resuming file B at the
    line where file A stopped would silently skip rows.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Checkpoint(source=source)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"checkpoint {path} cannot be read ({exc}); delete it or run with --restart"
        ) from exc
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ConfigError(f"checkpoint {path} is not a fieldstream checkpoint (version {VERSION})")
    if data.get("source") != source:
        raise ConfigError(
            f"checkpoint {path} belongs to {data.get('source')!r}, not {source!r}: "
            "pass the right --checkpoint, or run with --restart"
        )
    data.pop("version")
    try:
        return Checkpoint(**data)
    except TypeError as exc:
        raise ConfigError(f"checkpoint {path} has unexpected fields: {exc}") from exc


def save(path: Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to ``path`` atomically (temp file, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    body = json.dumps({"version": VERSION, **asdict(checkpoint)}, indent=1)
    with tmp.open("w", encoding="utf-8") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
