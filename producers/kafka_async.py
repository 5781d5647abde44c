"""An asyncio-friendly confluent-kafka producer: ``await send_many(...)`` returns only when
the broker acknowledged every message (acks=all, idempotent), so the gateway can answer 2xx
only after Kafka has the events."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from fieldstream.errors import BrokerError


class _Batch:
    """Counts delivery reports of one send_many call; resolves its future once."""

    __slots__ = ("error", "future", "loop", "remaining")

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.remaining = n
        self.error: KafkaError | None = None

    def on_delivery(self, err: KafkaError | None, _msg: Any) -> None:
        # runs in the poll thread, one report at a time
        if err is not None and self.error is None:
            self.error = err
        self.remaining -= 1
        if self.remaining == 0:
            self.loop.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if self.future.done():
            return
        if self.error is not None:
            self.future.set_exception(BrokerError(f"Kafka refused a message: {self.error.str()}"))
        else:
            self.future.set_result(None)


class AsyncProducer:
    """confluent-kafka Producer with a background poll thread."""

    def __init__(self, config: dict[str, Any]) -> None:
        try:
            self._producer = Producer(config)
        except KafkaException as exc:
            raise BrokerError(f"cannot create the Kafka producer: {exc}") from exc
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="kafka-poll", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def send_many(
        self, topic: str, messages: Sequence[tuple[bytes | None, bytes]], timeout_s: float = 10.0
    ) -> None:
        """Produce every (key, value); return once all are acknowledged, else BrokerError."""
        if not messages:
            return
        batch = _Batch(asyncio.get_running_loop(), len(messages))
        for key, value in messages:
            while True:
                try:
                    self._producer.produce(topic, value, key, on_delivery=batch.on_delivery)
                    break
                except BufferError:
                    await asyncio.sleep(0.01)  # local queue full: the poll thread drains it
                except KafkaException as exc:
                    raise BrokerError(f"cannot produce to {topic}: {exc}") from exc
        try:
            await asyncio.wait_for(asyncio.shield(batch.future), timeout_s)
        except TimeoutError:
            raise BrokerError(f"Kafka did not acknowledge within {timeout_s:.0f}s") from None

    def healthy(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        self._producer.flush(timeout_s)
