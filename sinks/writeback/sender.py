"""The write-back's sending loop: due ledger rows -> VAN, politely, each at most once knowingly.

For each due row: wait for the key's turn (:class:`~sinks.writeback.pacing.KeyPacer`), mark
the row ``sending`` on disk, POST, and record VAN's answer. The marks of rows whose turns come
together are committed in one transaction (one fsync, off the event loop), and answers are
recorded the same way, so the disk's sync time is shared rather than paid per contact; a
request never leaves before its mark is on disk. A 429 or 5xx pauses the key
(``Retry-After`` honoured) and puts the row back with its next try time; a timeout or dropped
connection leaves it ``uncertain`` and pauses the key too, since VAN is struggling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from core.van_client import Answer, basic_auth, post_canvass_response
from sinks.writeback.ledger import Entry, Ledger
from sinks.writeback.metrics import WritebackMetrics
from sinks.writeback.pacing import KeyPacer

log = logging.getLogger(__name__)


@dataclass
class Target:
    """Where one org's contacts go: VAN's address, the org's application name, key and pacer."""

    base_url: str
    app_name: str
    auth: dict[int, str]  # mode -> Authorization header (built once; carries the key)
    pacer: KeyPacer

    @classmethod
    def build(cls, base_url: str, app_name: str, api_key: SecretStr, pacer: KeyPacer) -> Target:
        auth = {mode: basic_auth(app_name, api_key, mode) for mode in (0, 1)}
        return cls(base_url, app_name, auth, pacer)


class Sender:
    def __init__(
        self,
        ledger: Ledger,
        targets: dict[str, Target],
        client: httpx.AsyncClient,
        metrics: WritebackMetrics | None = None,
        *,
        idle_s: float = 0.05,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger, self.targets, self.client = ledger, targets, client
        self.metrics = metrics or WritebackMetrics()
        self.idle_s, self.clock = idle_s, clock
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._begins: list[tuple[str, asyncio.Future[bool]]] = []
        self._settles: list[tuple[str, str, dict[str, Any]]] = []
        self._settled: list[asyncio.Future[None]] = []
        self._kick = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set; in-flight requests finish (or are left for recover())."""
        window = sum(t.pacer.concurrency for t in self.targets.values()) * 2 or 1
        flusher = asyncio.create_task(self._flush_forever())
        try:
            await self._loop(stop, window)
        finally:
            flusher.cancel()
            await self._flush()

    async def _loop(self, stop: asyncio.Event, window: int) -> None:
        while not stop.is_set():
            room = window - len(self._busy)
            busy = frozenset(self._busy)
            rows = await asyncio.to_thread(self.ledger.due, room, busy) if room > 0 else []
            for row in rows:
                if row.org_id not in self.targets:
                    continue  # configured away since it was recorded: left pending
                self._busy.add(row.event_id)
                task = asyncio.create_task(self._send(row))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if not rows:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.idle_s)
            else:
                await asyncio.sleep(0)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _flush_forever(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            await self._flush()

    async def _flush(self) -> None:
        """Commit the queued answers, then the queued marks, each batch in one transaction."""
        settles, self._settles = self._settles, []
        settled, self._settled = self._settled, []
        if settles:
            try:
                await asyncio.to_thread(self.ledger.settle_many, settles)
            except Exception as exc:  # the rows stay 'sending': uncertain after a restart
                log.error("write-back could not record %d answer(s): %s", len(settles), exc)
        for done in settled:
            if not done.done():
                done.set_result(None)
        begins, self._begins = self._begins, []
        if begins:
            try:
                began = await asyncio.to_thread(self.ledger.begin_many, [e for e, _ in begins])
            except Exception as exc:
                for _, waiting in begins:
                    waiting.set_exception(exc)
                return
            for event_id, waiting in begins:
                waiting.set_result(event_id in began)

    async def _begin(self, event_id: str) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._begins.append((event_id, future))
        self._kick.set()
        return await future

    def _record(self, event_id: str, state: str, **fields: Any) -> None:
        self._settles.append((event_id, state, fields))
        self._settled.append(asyncio.get_running_loop().create_future())
        self._kick.set()

    async def drain(self, timeout_s: float = 120.0) -> None:
        """Send until nothing is pending (due now or waiting out a pause) or in flight (tests,
        benchmarks); ``timeout_s`` only bounds a hang."""
        stop = asyncio.Event()
        runner = asyncio.create_task(self.run(stop))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            await asyncio.sleep(self.idle_s)
            if not self._busy and not self.ledger.entries("pending", limit=1):
                break
        stop.set()
        await runner

    async def _send(self, row: Entry) -> None:
        target = self.targets[row.org_id]
        try:
            await target.pacer.turn()
            try:
                if not await self._begin(row.event_id):
                    return
                answer = await post_canvass_response(
                    self.client,
                    target.base_url,
                    target.auth[row.mode if row.mode in (0, 1) else 0],
                    row.person or "",
                    (row.body or "").encode(),
                )
            finally:
                target.pacer.done()
            self._settle(row, target, answer)
            await self._settled[-1]
        except Exception:  # the ledger keeps the row 'sending' -> uncertain on recover
            log.exception("write-back of one contact failed inside fieldstream org=%s", row.org_id)
        finally:
            self._busy.discard(row.event_id)

    def _settle(self, row: Entry, target: Target, answer: Answer) -> None:
        code = answer.error_code or ""
        self.metrics.answers.labels(row.org_id, answer.kind, code).inc()
        if answer.kind == "posted":
            target.pacer.succeeded()
            self.metrics.posted.labels(row.org_id).inc()
            self._record(row.event_id, "posted", van_status=answer.status)
        elif answer.kind == "rejected":
            target.pacer.succeeded()
            self._record(
                row.event_id,
                "rejected",
                van_status=answer.status,
                error_code=answer.error_code,
                error_text=answer.error_text,
                rejected_by="van",
            )
        elif answer.kind == "retry":
            pause = target.pacer.failed(answer.retry_after)
            self.metrics.paused.labels(row.org_id).set(pause)
            self._record(
                row.event_id,
                "pending",
                van_status=answer.status,
                error_code=answer.error_code,
                error_text=answer.error_text,
                next_at=self.clock() + pause,
            )
        else:
            pause = target.pacer.failed(None)
            self.metrics.paused.labels(row.org_id).set(pause)
            self._record(
                row.event_id,
                "uncertain",
                van_status=answer.status,
                error_code=answer.error_code,
                error_text=answer.error_text,
            )
