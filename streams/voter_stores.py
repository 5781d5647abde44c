"""Where the voter directory keeps voters: the store protocol, the dict for the embedded
default and, for production, the disk-backed store: RocksDB through rocksdict.

The issue asked for "faust's RocksDB store via rocksdict". The voter directory is not a faust
Table (every worker needs every voter, like a GlobalTable, and its changelog is exactly the
compacted voters topic), so this is the equivalent built on the same library: keys
``ST:voter_id``, values the Voter's Avro bytes as they came off the topic.

What makes it restartable is the second column family, ``meta``: the next offset of each
partition of the voters topic already applied, the topic's name and id, and the number of
voters. Every batch of records is written in one WriteBatch together with those offsets and
that count, so a crash (even SIGKILL: the write-ahead log is written at each batch) can never
leave records without their offsets or offsets without their records. On restart the directory
reads from those offsets: only what changed since.

The count is kept exact (``len`` is a metric and a log line; RocksDB's own key estimate counts
overwrites twice): each batch multi-gets its keys first to tell new voters from updates, which
costs about as much as the write itself.

RocksDB allows one process per directory: give each worker its own ``stream.voter_store_path``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol, cast

from rocksdict import ColumnFamily, Options, Rdict, WriteBatch

from core.errors import ConfigError
from core.settings import StreamSettings

META = "meta"
_COUNT = b"count"
_TOPIC = b"topic"
_TOPIC_ID = b"topic_id"
_OFFSET = b"offset:"  # + partition as ASCII digits
_KEYS_END = b"\xff"  # above every UTF-8 key: [b"", _KEYS_END) is every voter


class VoterStore(Protocol):
    """Where the directory keeps voters: key ``ST:voter_id`` -> encoded Voter bytes, with the
    offsets of the voters topic they were read up to."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes) -> None: ...

    def delete(self, key: str) -> None: ...

    def __len__(self) -> int: ...

    def apply(
        self, changes: Iterable[tuple[str, bytes | None]], offsets: Mapping[int, int]
    ) -> None:
        """Put (bytes) or delete (None) each key in order, and record partition -> next
        offset, at once: a store never holds records without their offsets or the reverse."""

    def offsets(self) -> dict[int, int]:
        """Partition -> next offset to read, as last applied."""

    def source(self) -> tuple[str | None, str | None]:
        """(topic name, topic id) the voters came from; (None, None) for a new store."""

    def reset(self, topic: str, topic_id: str | None) -> None:
        """Forget every voter and offset, and remember the topic read from now on."""

    def close(self) -> None: ...


class MemoryVoterStore:
    """A dict; thread-safe enough for one writer thread and readers under the GIL.

    Nothing survives the process, so a new one always reads the topic from the beginning.
    """

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._offsets: dict[int, int] = {}
        self._source: tuple[str | None, str | None] = (None, None)

    def get(self, key: str) -> bytes | None:
        return self._data.get(key)

    def put(self, key: str, value: bytes) -> None:
        self._data[key] = value

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)

    def apply(
        self, changes: Iterable[tuple[str, bytes | None]], offsets: Mapping[int, int]
    ) -> None:
        data = self._data
        for key, value in changes:
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        self._offsets.update(offsets)

    def offsets(self) -> dict[int, int]:
        return dict(self._offsets)

    def source(self) -> tuple[str | None, str | None]:
        return self._source

    def reset(self, topic: str, topic_id: str | None) -> None:
        self._data.clear()
        self._offsets.clear()
        self._source = (topic, topic_id)

    def close(self) -> None:
        pass


def _options(cache_mb: int) -> Options:
    """Point lookups on a few million small records: bloom filters, a bounded block cache."""
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    opts.optimize_for_point_lookup(cache_mb)  # block cache, bloom filter, hash index in blocks
    opts.set_write_buffer_size(64 << 20)
    opts.set_max_write_buffer_number(3)
    opts.increase_parallelism(2)
    opts.set_keep_log_file_num(3)
    return opts


def _int(raw: bytes | None, default: int = 0) -> int:
    return default if raw is None else int.from_bytes(raw, "big", signed=True)


def _bytes(n: int) -> bytes:
    return n.to_bytes(8, "big", signed=True)


class RocksVoterStore:
    """Voters in RocksDB, with the offsets they were read up to, written atomically."""

    def __init__(self, path: Path, cache_mb: int = 64) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        opts = _options(cache_mb)
        try:
            self._db = Rdict(str(path), opts, column_families={META: Options(raw_mode=True)})
        except Exception as exc:  # rocksdict raises a bare Exception
            raise ConfigError(
                f"cannot open the voter store at {path}: {exc}. RocksDB allows one process per "
                "directory: give each worker its own stream.voter_store_path"
            ) from exc
        self._meta: Rdict = self._db.get_column_family(META)
        self._meta_cf: ColumnFamily | None = self._db.get_column_family_handle(META)
        self._count = _int(self._meta.get(_COUNT))

    # -- the VoterStore protocol ----------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        value: bytes | None = self._db.get(key.encode())  # raw mode: bytes, no copy
        return value

    def put(self, key: str, value: bytes) -> None:
        self.apply([(key, value)], {})

    def delete(self, key: str) -> None:
        self.apply([(key, None)], {})

    def __len__(self) -> int:
        return self._count

    def apply(
        self, changes: Iterable[tuple[str, bytes | None]], offsets: Mapping[int, int]
    ) -> None:
        """Put (value) or delete (None) each key, in order, and record ``offsets`` (partition
        -> next offset to read), all in one atomic write."""
        items = [(k.encode(), v) for k, v in changes]
        count = self._count
        batch = WriteBatch(raw_mode=True)
        if items:
            before = cast("list[bytes | None]", self._db.get([k for k, _ in items]))  # multi-get
            present = {k for (k, _), v in zip(items, before, strict=True) if v is not None}
            for k, v in items:
                if v is None:
                    if k in present:
                        present.discard(k)
                        count -= 1
                    batch.delete(k)
                else:
                    if k not in present:
                        present.add(k)
                        count += 1
                    batch.put(k, v)
        for partition, offset in offsets.items():
            batch.put(_OFFSET + str(partition).encode(), _bytes(offset), self._meta_cf)
        batch.put(_COUNT, _bytes(count), self._meta_cf)
        self._db.write(batch)
        self._count = count

    def offsets(self) -> dict[int, int]:
        """Partition -> next offset to read, as last applied."""
        out: dict[int, int] = {}
        for key, value in self._meta.items(from_key=_OFFSET):
            if not isinstance(key, bytes) or not key.startswith(_OFFSET):
                break
            out[int(key[len(_OFFSET) :])] = _int(value)
        return out

    def source(self) -> tuple[str | None, str | None]:
        """The (topic name, topic id) these voters were read from; None when never set."""
        name, topic_id = self._meta.get(_TOPIC), self._meta.get(_TOPIC_ID)
        return (
            None if name is None else bytes(name).decode(),
            None if topic_id is None else bytes(topic_id).decode(),
        )

    def reset(self, topic: str, topic_id: str | None) -> None:
        """Forget every voter and offset: the next read starts from the beginning of ``topic``."""
        batch = WriteBatch(raw_mode=True)
        batch.delete_range(b"", _KEYS_END)
        for partition in self.offsets():
            batch.delete(_OFFSET + str(partition).encode(), self._meta_cf)
        batch.put(_COUNT, _bytes(0), self._meta_cf)
        batch.put(_TOPIC, topic.encode(), self._meta_cf)
        if topic_id is None:
            batch.delete(_TOPIC_ID, self._meta_cf)
        else:
            batch.put(_TOPIC_ID, topic_id.encode(), self._meta_cf)
        self._db.write(batch)
        self._count = 0

    def close(self) -> None:
        """Flush and release the directory (RocksDB's lock goes with the last handle)."""
        self._meta_cf = None
        self._meta.close()
        self._db.close()


def open_voter_store(settings: StreamSettings) -> VoterStore:
    """The store ``stream.voter_store`` names: memory, or RocksDB at ``voter_store_path``."""
    if settings.voter_store == "rocksdb":
        return RocksVoterStore(settings.voter_store_path)
    return MemoryVoterStore()
