"""Where an import got to: a small JSON file in the data directory, written atomically after
Kafka acked.

A file import records the last line whose message (and every message before it) Kafka has
acknowledged; a re-run resumes after it. A poller records its high-water mark (for Mobilize,
``updated_since``) in ``state``. The file is replaced with ``os.replace`` after an fsync, so a
crash leaves either the old checkpoint or the new one, never half of one.

Checkpoints live under ``<data_dir>/imports/``, named after the import (:func:`import_name`:
the input's name and a digest of its full path), never beside the input: an export on a
read-only share imports like any other. Beside each checkpoint, ``<name>.rejects.csv`` lists
every bad row with its reason. The checkpoint also keeps what the import was (``spec``: the
tool, the org, the campaign, the codes or mapping file), so ``fieldstream dlq replay`` can
read an import's held rows again through the current maps.

Bad rows found so far are kept too (their line numbers, capped), so the report at the end of
a resumed import still names the bad rows of the first run.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError

IMPORTS_DIR = "imports"  # under the data directory
SUFFIX = ".checkpoint"
REJECTS_SUFFIX = ".rejects.csv"
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
    spec: dict[str, Any] = field(default_factory=dict)  # what the import is (for a replay)

    def add_bad(self, line: int) -> None:
        self.bad += 1
        if len(self.bad_lines) < MAX_BAD_LINES:
            self.bad_lines.append(line)


def import_name(inputs: Sequence[Path | str]) -> str:
    """The name of an import of ``inputs`` (files, or an API's address): the first one's name
    and a digest of all of them in full, so two exports that share a file name never share a
    checkpoint. Its dead letters' source_topic is ``import:<name>``."""
    full = "\n".join(str(Path(i).resolve()) if isinstance(i, Path) else str(i) for i in inputs)
    first = inputs[0].name if isinstance(inputs[0], Path) else str(inputs[0])
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in first)[:80]
    return f"{safe}-{hashlib.sha256(full.encode()).hexdigest()[:8]}"


def default_path(data_dir: Path, name: str) -> Path:
    """``<data_dir>/imports/<name>.checkpoint``."""
    return data_dir / IMPORTS_DIR / f"{name}{SUFFIX}"


def rejects_path(checkpoint: Path) -> Path:
    """``<name>.rejects.csv`` beside the checkpoint: every bad row and its reason."""
    return checkpoint.with_name(checkpoint.name.removesuffix(SUFFIX) + REJECTS_SUFFIX)


def read_spec(data_dir: Path, name: str) -> dict[str, Any]:
    """What the import ``name`` was (its checkpoint's spec); ConfigError when it has none."""
    path = default_path(data_dir, name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"import {name}: no readable checkpoint at {path} ({exc})") from exc
    spec = data.get("spec") if isinstance(data, dict) else None
    if not isinstance(spec, dict) or "tool" not in spec:
        raise ConfigError(f"import {name}: its checkpoint {path} does not say what it imported")
    return spec


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    body = json.dumps({"version": VERSION, **asdict(checkpoint)}, indent=1)
    with tmp.open("w", encoding="utf-8") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
