"""The gateway's journal: what it acknowledged, on disk, until the store holds it.

In the embedded default the broker keeps everything in memory: a 2xx backed only by its ack
is a promise the broker's death breaks. So the gateway appends every accepted request's
messages (the raw events and the dead letters it produced) to a journal in the data
directory and answers 2xx only once the broker acked them AND the journal has them on disk
(``fdatasync``; concurrent requests share one sync). After a broker restart, or at the next
start after a crash, the roof replays the journal (:func:`replay_records`); the sink drops
whatever the store already holds (sinks/ledger.py), so a replay adds only what was lost. The
roof deletes a segment once the store holds every message in it.

On disk: ``<dir>/<created ms>-<pid>-<sequence>.open`` while a gateway writes it, renamed
``.log`` when closed (every ``segment_s`` seconds or ``segment_bytes``); a segment left
``.open`` by a dead process is closed by the roof. Records are ``length (4) | crc32 (4) |
payload`` with payload ``topic length (2) | topic | key length (4) | key | value length (4) |
value``; a torn tail (a crash mid-write) fails its length or CRC and ends the segment
there. Directory 0700, files 0600: the journal holds personal data until it is trimmed.

In production Kafka is replicated and durable: the setting ``gateway.journal`` is off there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import FieldstreamError

log = logging.getLogger(__name__)

OPEN, CLOSED = ".open", ".log"
_HEAD = struct.Struct(">II")


@dataclass(frozen=True)
class Entry:
    topic: str
    key: bytes | None
    value: bytes


def encode(entries: Sequence[Entry]) -> bytes:
    out = bytearray()
    for e in entries:
        topic, key = e.topic.encode(), e.key or b""
        payload = b"".join(
            (
                struct.pack(">H", len(topic)),
                topic,
                struct.pack(">i", -1 if e.key is None else len(key)),
                key,
                struct.pack(">I", len(e.value)),
                e.value,
            )
        )
        out += _HEAD.pack(len(payload), zlib.crc32(payload))
        out += payload
    return bytes(out)


def decode(data: bytes) -> Iterator[Entry]:
    """Every whole record of a segment's bytes; stops at a torn or corrupt tail."""
    at, end = 0, len(data)
    while at + _HEAD.size <= end:
        length, crc = _HEAD.unpack_from(data, at)
        payload = data[at + _HEAD.size : at + _HEAD.size + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            log.warning("journal segment ends in a torn record at byte %d; the rest is ignored", at)
            return
        (tlen,) = struct.unpack_from(">H", payload, 0)
        topic = payload[2 : 2 + tlen].decode()
        p = 2 + tlen
        (klen,) = struct.unpack_from(">i", payload, p)
        p += 4
        key = None if klen < 0 else payload[p : p + klen]
        p += max(klen, 0)
        (vlen,) = struct.unpack_from(">I", payload, p)
        p += 4
        yield Entry(topic, key, payload[p : p + vlen])
        at += _HEAD.size + length


def open_dir(directory: Path) -> Path:
    """The journal directory, created 0700 (its files hold personal data)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    return directory


class JournalError(FieldstreamError):
    """The journal could not be written: the gateway must not answer 2xx."""


class Journal:
    """One gateway process's journal writer (asyncio; group commit)."""

    def __init__(
        self, directory: Path, *, segment_s: float = 10.0, segment_bytes: int = 16 << 20
    ) -> None:
        self.directory = open_dir(directory)
        self.segment_s, self.segment_bytes = segment_s, segment_bytes
        self._fd: int | None = None
        self._path: Path | None = None
        self._opened = 0.0
        self._size = 0
        self._written = 0  # sequence number of the last write
        self._synced = 0  # the last write known to be on disk
        self._sync: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._seq = 0

    def _open(self) -> None:
        self._seq += 1  # two segments opened in one millisecond must not share a name
        name = f"{int(time.time() * 1000):013d}-{os.getpid()}-{self._seq:06d}{OPEN}"
        self._path = self.directory / name
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._opened, self._size = time.monotonic(), 0

    def _close(self) -> None:
        """Sync and close the current segment and mark it closed (``.log``)."""
        if self._fd is None or self._path is None:
            return
        os.fdatasync(self._fd)
        os.close(self._fd)
        self._path.rename(self._path.with_suffix(CLOSED))
        self._fd, self._path = None, None

    async def append(self, entries: Sequence[Entry]) -> None:
        """Write ``entries`` and return once they are on disk; JournalError otherwise.

        Writes, syncs and segment changes take turns under one lock, so a segment is never
        closed under a sync; requests that wrote while a sync ran share the next one."""
        if not entries:
            return
        data = encode(entries)
        async with self._lock:
            try:
                if self._fd is not None and (
                    self._size >= self.segment_bytes
                    or time.monotonic() - self._opened >= self.segment_s
                ):
                    await asyncio.to_thread(self._close)  # syncs what it holds first
                    self._synced = self._written
                if self._fd is None:
                    self._open()
                assert self._fd is not None
                os.write(self._fd, data)
            except OSError as exc:
                raise JournalError(f"cannot write the journal in {self.directory}: {exc}") from exc
            self._size += len(data)
            self._written += 1
            mine = self._written
        while self._synced < mine:
            if self._sync is None:
                self._sync = asyncio.create_task(self._fsync())
            await asyncio.shield(self._sync)

    async def _fsync(self) -> None:
        try:
            async with self._lock:
                target, fd = self._written, self._fd
                if fd is not None and target > self._synced:
                    await asyncio.to_thread(os.fdatasync, fd)
                self._synced = max(self._synced, target)
        except OSError as exc:
            raise JournalError(f"cannot sync the journal in {self.directory}: {exc}") from exc
        finally:
            self._sync = None

    def close(self) -> None:
        try:
            self._close()
        except OSError as exc:
            log.warning("closing the journal: %s", exc)


def segments(directory: Path, *, include_open: bool = False) -> list[Path]:
    """The journal's segments, oldest first (closed ones; also open ones if asked)."""
    if not directory.is_dir():
        return []
    suffixes = {CLOSED, OPEN} if include_open else {CLOSED}
    return sorted(p for p in directory.iterdir() if p.suffix in suffixes)


def close_orphans(directory: Path) -> int:
    """Mark ``.open`` segments of processes that no longer run as closed; returns how many."""
    closed = 0
    for path in segments(directory, include_open=True):
        if path.suffix != OPEN:
            continue
        pid = int(path.stem.split("-")[1])
        if _alive(pid) and pid != os.getpid():
            continue
        path.rename(path.with_suffix(CLOSED))
        closed += 1
    return closed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_segment(path: Path) -> list[Entry]:
    try:
        return list(decode(path.read_bytes()))
    except FileNotFoundError:  # trimmed meanwhile
        return []


def replay_records(directory: Path) -> Iterator[tuple[Path, list[Entry]]]:
    """Each segment (open ones included, as far as written) with its records, oldest first."""
    for path in segments(directory, include_open=True):
        yield path, read_segment(path)
