"""The voter directory: every worker's own copy of the compacted ``voters`` topic.

Each stream worker reads the compacted voters topic into a :class:`VoterStore` with its own
confluent-kafka consumer (no consumer group: ``assign``, never commit) and keeps reading
updates in a background thread; a tombstone (value None) deletes the voter. Contacts are
not processed until :meth:`VoterDirectory.wait_caught_up` says every partition was read to
its end (at or past the high watermark at start).

Two stores, chosen by ``stream.voter_store`` (:func:`open_voter_store`):
:class:`MemoryVoterStore`, a dict, for the embedded default (its topics vanish with the
broker anyway), and :class:`RocksVoterStore`, RocksDB through rocksdict, for a large state in
production (both in ``streams.voter_stores``). The issue asked for faust's RocksDB store; the
directory is not a faust Table (every worker needs all voters, like a GlobalTable, whose
changelog is exactly our compacted topic), so this is the equivalent on the same library.
Each store keeps, written atomically with the voters of each batch, the next offset of every
partition it has applied and the topic's name and id. On restart the directory assigns each
partition from its stored offset instead of the beginning (recovery from the changelog: only
what changed since) and is caught up when it reaches the end. If the topic was recreated
(another id or name, or a stored offset beyond the end) it starts over from the beginning
and logs it.

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
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from core.errors import BrokerError, SchemaError
from schemas import VOTER, AvroCodec
from schemas.codec import SINGLE_OBJECT_MAGIC, schema_fingerprint
from streams.logic.enrich import read_exact
from streams.voter_stores import MemoryVoterStore, RocksVoterStore, VoterStore, open_voter_store

log = logging.getLogger(__name__)

__all__ = [
    "MemoryVoterStore",
    "RocksVoterStore",
    "VoterDirectory",
    "VoterStore",
    "open_voter_store",
]

Record = dict[str, Any]


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
            "auto.offset.reset": "error",  # a stored offset out of range: start over, never skip
            "fetch.wait.max.ms": 20,
            **consumer_conf,
        }
        self._conf = conf
        self._client_conf = dict(consumer_conf)  # for the admin client (the topic id)
        self.topic = topic
        self._codec = codec
        self._schema = codec.schema(VOTER)
        self._header = SINGLE_OBJECT_MAGIC + schema_fingerprint(self._schema)
        self.store: VoterStore = store if store is not None else MemoryVoterStore()
        self._poll_batch = poll_batch
        self._partitions: list[int] = []
        self._topic_id: str | None = None
        self._pending: set[int] = set()  # partitions not yet read to their end
        self._unverified: dict[int, int] = {}  # resumed partitions not yet seen to reach there
        self._caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.loaded = 0
        self.deleted = 0
        self.bad = 0
        self.started_over = 0  # times the store was emptied because the topic was recreated
        self._resumed = False  # read from stored offsets (for the caught-up log line)
        self._checked: dict[str, int] = {}  # key -> hash of the stored bytes that passed accept()

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    @property
    def applied(self) -> int:
        """Records (puts and deletes) applied to the store since :meth:`start`."""
        return self.loaded + self.deleted

    def get_bytes(self, key: str) -> bytes | None:
        """The encoded Voter stored under ``key`` (see ``schemas.ids.voter_key``), or None.

        A record is checked on its first hit; a bad one is answered as None (not on the file).
        Only a hash of the checked bytes is remembered, so a disk store stays on disk.
        """
        raw = self.store.get(key)
        if raw is None:
            return None
        digest = hash(raw)
        if self._checked.get(key) == digest:
            return raw
        if not self.accept(raw):
            self.bad += 1  # the key names a voter: never log it
            log.warning("a voter record in %s is not a whole Voter; unmatched", self.topic)
            return None
        self._checked[key] = digest  # an update of the key is checked again
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
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="voter-directory", daemon=True)
        self._thread.start()

    def wait_caught_up(self, timeout: float | None = None) -> bool:
        """Block until every partition reached its high watermark seen at start."""
        return self._caught_up.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading. The store stays open for lookups; its owner closes it."""
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
        """Wait for the topic, then assign every partition from its stored offset (or the
        beginning), after starting over if the store was read from another topic."""
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
        if not partitions:
            return  # stopped while waiting for the topic
        self._partitions = partitions
        self._topic_id = self._read_topic_id()
        name, topic_id = self.store.source()
        if name is None:
            self.store.reset(self.topic, self._topic_id)  # a new store
        elif name != self.topic:
            self._start_over(f"the store was read from another topic ({name})")
        elif topic_id and self._topic_id and topic_id != self._topic_id:
            self._start_over("its topic id changed")
        offsets = {p: o for p, o in self.store.offsets().items() if p in partitions}
        self._resumed = bool(offsets)
        self._unverified = {p: o for p, o in offsets.items() if o > 0}
        # Caught up = every partition reported end-of-partition once. That happens at the high
        # watermark of the fetch, so at or past the one at start. (Tansu answers ListOffsets
        # with the base offset of the last record batch + 1, too low: the watermark from
        # get_watermark_offsets cannot be trusted there, the fetch's can.)
        self._pending = set(partitions)
        consumer.assign(
            [TopicPartition(self.topic, p, offsets.get(p, OFFSET_BEGINNING)) for p in partitions]
        )
        if offsets:
            log.info(
                "voter directory resumes %s from stored offsets (%d voters stored, %d of %d "
                "partitions)",
                self.topic,
                len(self.store),
                len(offsets),
                len(partitions),
            )

    def _read_topic_id(self) -> str | None:
        """The topic's id (KIP-516), to tell a recreated topic of the same name; None if the
        broker does not say (then only a stored offset beyond the end tells)."""
        try:
            admin = AdminClient(self._client_conf)
            desc = admin.describe_topics(TopicCollection([self.topic]))[self.topic].result(10)
        except Exception as exc:  # an older broker or protocol: offsets still protect us
            log.info("no topic id for %s (%s)", self.topic, type(exc).__name__)
            return None
        topic_id = str(getattr(desc, "topic_id", "") or "")
        return None if not topic_id or set(topic_id) <= {"A", "="} else topic_id  # zero uuid

    def _start_over(self, why: str, consumer: Consumer | None = None) -> None:
        """Empty the store and read the whole topic again (it was recreated)."""
        log.warning(
            "voters topic %s was recreated (%s): emptying the voter store and reading the topic "
            "again from the beginning",
            self.topic,
            why,
        )
        self.store.reset(self.topic, self._topic_id)
        self._checked.clear()
        self.started_over += 1
        self._resumed, self._unverified = False, {}
        self._pending = set(self._partitions)
        if consumer is not None:
            consumer.assign(
                [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in self._partitions]
            )

    def _poll(self, consumer: Consumer) -> None:
        changes: list[tuple[str, bytes | None]] = []
        offsets: dict[int, int] = {}
        checked = self._checked
        for msg in consumer.consume(self._poll_batch, 0.2):
            err = msg.error()
            if err is not None:
                code = err.code()
                if code == KafkaError._PARTITION_EOF:
                    self._pending.discard(msg.partition() or 0)
                    self._unverified.pop(msg.partition() or 0, None)
                elif code in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                    self._start_over("a stored offset is out of range", consumer)
                    return  # what this batch read belongs to the old topic or is read again
                else:
                    log.warning("voter directory read error on %s: %s", self.topic, err)
                continue
            partition, offset = msg.partition(), msg.offset()
            if partition is None or offset is None:
                continue  # librdkafka sets both on every message; for the type checker
            offsets[partition] = offset + 1
            key, value = msg.key(), msg.value()
            if key is None:
                self.bad += 1
                continue
            k = key.decode("utf-8", "replace")
            changes.append((k, value))
            if value is None:
                checked.pop(k, None)
                self.deleted += 1
            else:
                self.loaded += 1
        if offsets:
            self.store.apply(changes, offsets)
            for partition in offsets:
                self._unverified.pop(partition, None)
        if self._unverified:
            self._check_beyond_end(consumer)
        self._check_caught_up()

    def _check_beyond_end(self, consumer: Consumer) -> None:
        """A stored offset past a partition's end means the topic was recreated. Kafka says so
        with OFFSET_OUT_OF_RANGE; Tansu answers nothing, but its fetches carry the true high
        watermark, which librdkafka caches."""
        for partition, stored in list(self._unverified.items()):
            try:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, partition), cached=True
                )
            except KafkaException:
                continue
            if high >= 0 and stored > high:
                self._start_over(
                    f"stored offset {stored} of partition {partition} is past its end {high}",
                    consumer,
                )
                return

    def _check_caught_up(self) -> None:
        if not self._pending and not self._caught_up.is_set():
            log.info(
                "voter directory caught up with %s: %d voters, %d records applied in %.1fs (%s)",
                self.topic,
                len(self.store),
                self.applied,
                time.monotonic() - self._started,
                "resumed from stored offsets" if self._resumed else "read from the beginning",
            )
            self._caught_up.set()
