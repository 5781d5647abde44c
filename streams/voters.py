"""The voter directory: every worker's own copy of the compacted ``voters`` topic.

Each worker reads all partitions of the topic from the beginning with its own
confluent-kafka consumer (no consumer group: ``assign``, never commit) and keeps reading
updates in a background thread; a tombstone (value None) deletes the voter. Contacts are
not processed until :meth:`VoterDirectory.wait_caught_up` says every partition was read to
its end (at or past the high watermark at start). Storage sits behind
:class:`VoterStore`, so a disk store can replace the dict.

Values are kept as the Avro bytes from the topic: a state file of millions of voters fits
in memory that way (about 200 bytes a voter; a decoded dict adds about 1 kB more), loading
runs at consume speed (decoding would cap it near 80k voters/s), and the stage splices the
bytes into its output without decoding them (see ``streams.logic.enrich``). Each record
is checked on its first hit, once: one that does not decode, or has bytes after its body,
is treated as not on the file and counted.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from fieldstream.errors import BrokerError, SchemaError
from schemas import VOTER, AvroCodec
from schemas.codec import SINGLE_OBJECT_MAGIC, schema_fingerprint
from streams.logic.enrich import read_exact

log = logging.getLogger(__name__)

Record = dict[str, Any]


class VoterStore(Protocol):
    """Where the directory keeps voters: key ``ST:voter_id`` -> encoded Voter bytes."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes) -> None: ...

    def delete(self, key: str) -> None: ...

    def __len__(self) -> int: ...


class MemoryVoterStore:
    """A dict; thread-safe enough for one writer thread and readers under the GIL."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self._data.get(key)

    def put(self, key: str, value: bytes) -> None:
        self._data[key] = value

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)


class VoterDirectory:
    """Reads the voters topic into a :class:`VoterStore` and answers lookups."""

    def __init__(
        self,
        consumer_conf: dict[str, Any],
        topic: str,
        codec: AvroCodec,
        store: VoterStore | None = None,
        poll_batch: int = 10_000,
    ) -> None:
        conf = {
            "group.id": f"voter-directory-{topic}",  # required by librdkafka; never joined
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 20,
            **consumer_conf,
        }
        self._conf = conf
        self.topic = topic
        self._codec = codec
        self._schema = codec.schema(VOTER)
        self._header = SINGLE_OBJECT_MAGIC + schema_fingerprint(self._schema)
        self.store: VoterStore = store if store is not None else MemoryVoterStore()
        self._poll_batch = poll_batch
        self._pending: set[int] = set()  # partitions not yet read to their end
        self._caught_up = threading.Event()
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread: threading.Thread | None = None
        self.loaded = 0
        self.deleted = 0
        self.bad = 0
        self._checked: dict[str, bytes] = {}  # key -> the stored bytes that passed accept()

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    def get_bytes(self, key: str) -> bytes | None:
        """The encoded Voter stored under ``key`` (see ``schemas.ids.voter_key``), or None.

        A record is checked on its first hit; a bad one is answered as None (not on the file).
        """
        raw = self.store.get(key)
        if raw is None or self._checked.get(key) == raw:
            return raw
        if not self.accept(raw):
            self.bad += 1  # the key names a voter: never log it
            log.warning("a voter record in %s is not a whole Voter; unmatched", self.topic)
            return None
        self._checked[key] = raw  # an update of the key is checked again
        return raw

    def lookup(self, key: str) -> Record | None:
        """The decoded Voter stored under ``key``, or None."""
        raw = self.store.get(key)
        return None if raw is None else self._codec.decode(raw, expect=VOTER)[1]

    def accept(self, value: bytes) -> bool:
        """Whether ``value`` is one whole Voter record."""
        try:
            if read_exact(value, self._header, self._schema) is not None:
                return True
            if value[: len(self._header)] == self._header:
                return False  # our framing with bytes after the body
            self._codec.decode(value, expect=VOTER)  # the other framing
            return True
        except SchemaError:
            return False

    def start(self) -> None:
        """Start the background reader (idempotent)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="voter-directory", daemon=True)
        self._thread.start()

    def wait_caught_up(self, timeout: float | None = None) -> bool:
        """Block until every partition reached its high watermark seen at start."""
        return self._caught_up.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        try:
            consumer = Consumer(self._conf)
        except KafkaException as exc:
            log.error("voter directory cannot create its consumer: %s", exc)
            return
        try:
            self._assign(consumer)
            while not self._stop.is_set():
                self._poll(consumer)
        except Exception as exc:  # keep the worker alive; readiness stays false
            log.error("voter directory stopped reading %s: %s", self.topic, type(exc).__name__)
        finally:
            consumer.close()

    def _assign(self, consumer: Consumer) -> None:
        """Wait for the topic, then assign every partition from the beginning."""
        partitions: list[int] = []
        while not self._stop.is_set():
            try:
                meta = consumer.list_topics(self.topic, timeout=10).topics.get(self.topic)
            except KafkaException as exc:
                raise BrokerError(f"cannot read metadata of topic {self.topic}: {exc}") from exc
            if meta is not None and meta.error is None and meta.partitions:
                partitions = sorted(meta.partitions)
                break
            if not self._caught_up.is_set():
                log.warning("voters topic %s does not exist yet; no voters to match", self.topic)
                self._caught_up.set()  # nothing to catch up with; keep looking for the topic
            self._stop.wait(1.0)
        # Caught up = every partition reported end-of-partition once. That happens at the high
        # watermark of the fetch, so at or past the one at start. (Tansu answers ListOffsets
        # with the base offset of the last record batch + 1, too low: the watermark from
        # get_watermark_offsets cannot be trusted there, the fetch's can.)
        self._pending = set(partitions)
        consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])

    def _poll(self, consumer: Consumer) -> None:
        store = self.store
        for msg in consumer.consume(self._poll_batch, 0.2):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self._pending.discard(msg.partition())
                else:
                    log.warning("voter directory read error on %s: %s", self.topic, err)
                continue
            key, value = msg.key(), msg.value()
            if key is None:
                self.bad += 1
                continue
            k = key.decode("utf-8", "replace")
            if value is None:
                store.delete(k)
                self._checked.pop(k, None)
                self.deleted += 1
            else:
                store.put(k, value)
                self.loaded += 1
        self._check_caught_up()

    def _check_caught_up(self) -> None:
        if not self._pending and not self._caught_up.is_set():
            log.info(
                "voter directory caught up with %s: %d voters in %.1fs",
                self.topic,
                len(self.store),
                time.monotonic() - self._started,
            )
            self._caught_up.set()
