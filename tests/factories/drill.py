"""Fault drills on the real embedded stack: ``fieldstream up`` as a subprocess, a sender that
retries like a webhook sender, faults injected from outside, and a recount.

Used by tests/integration/test_faults.py (a short run in CI) and bench/soak.py (a long one).

The sender posts batches of canonical events to /v1/events at a steady rate. A request that
does not get a 2xx (a refusal, a dropped connection, a timeout) is sent again, identical,
until it does, as webhook senders do; now and then an acknowledged batch is sent again (a
sender that did not see the answer). A share of events name a campaign the program does not
run: the stream must refuse them into the dead letters. What the sender saw acknowledged is
the truth the store is recounted against.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import yaml

from core.config import DEFAULT_TIMEZONE
from core.settings import Settings
from fieldstream.embedded import free_port
from fieldstream.stack import settings_env
from producers.demo.state import generate_demo
from producers.voterfile.load import load_voters
from sinks.loaders import load_goals, load_universe
from sinks.query_tokens import admin_token
from sinks.remote import HttpSinkAccess

REPO = Path(__file__).resolve().parents[2]
ORG, CAMPAIGN, SOURCE = "demo-org", "gotv-2026", "demo-org-simulator"
BAD_CAMPAIGN = "no-such-campaign"


def drill_settings(data_dir: Path) -> Settings:
    """Settings for a drill: its own ports, quick group joins, the demo's programs/sources."""
    s = Settings(data_dir=data_dir)
    s.kafka.bootstrap_servers = f"127.0.0.1:{free_port()}"
    s.gateway.port = free_port()
    s.sink.query_port = free_port()
    s.stream.web_port = free_port()
    s.stream.session_timeout_s = 3.0
    s.sink.session_timeout_s = 3.0
    s.sink.flush_interval_s = 0.1
    s.sink.retry_max_s = 2.0
    s.sink.max_poll_interval_s = 10.0  # a store outage longer than this must not matter
    s.sink.fault_file = data_dir / "store-down"
    demo = generate_demo(data_dir / "demo", seed=7)
    s.stream.programs_file = demo.programs
    s.gateway.sources_file = demo.sources
    return s


class DrillStack:
    """``fieldstream up --no-board`` as a subprocess, its children found by their pid file."""

    def __init__(self, settings: Settings, workers: int = 1) -> None:
        self.settings = settings
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = settings.data_dir / "up.log"
        self.base = f"http://{settings.gateway.host}:{settings.gateway.port}"
        self.sink_base = f"http://{settings.sink.query_host}:{settings.sink.query_port}"

    def start(self, timeout_s: float = 180.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSTREAM_")}
        env.update(settings_env(self.settings), PYTHONUNBUFFERED="1")
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        (self.settings.data_dir / "run" / "stack.json").unlink(missing_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fieldstream.cli",
                    "up",
                    "--no-board",
                    "--workers",
                    str(self.workers),
                ],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            if "gateway" in self.pids() and self._healthy():
                return
            time.sleep(0.5)
        raise AssertionError(f"the stack was not up in {timeout_s:.0f}s:\n{self.tail()}")

    def pages(self) -> dict[str, dict[str, str | None]]:
        """Each child's /healthz and /metrics, as the stack recorded them."""
        try:
            path = self.settings.data_dir / "run" / "pages.json"
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            return {}

    def metric(self, name: str, metric: str) -> float | None:
        """The sum of ``metric``'s samples on child ``name``'s /metrics (None: unreadable)."""
        url = self.pages().get(name, {}).get("metrics")
        try:
            text = httpx.get(url or "", timeout=2).text
        except httpx.HTTPError:
            return None
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(metric) and not line.startswith("#")
        )

    def _healthy(self) -> bool:
        s = self.settings
        urls = [
            f"{self.base}/healthz",
            f"{self.sink_base}/healthz",
            f"http://{s.stream.web_host}:{s.stream.web_port}/healthz",
        ]
        urls += [str(p["health"]) for p in self.pages().values() if p.get("health")]
        try:
            return all(httpx.get(u, timeout=2).status_code == 200 for u in urls)
        except httpx.HTTPError:
            return False

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def pids(self) -> dict[str, int]:
        try:
            return dict(json.loads((self.settings.data_dir / "run" / "stack.json").read_text()))
        except (OSError, ValueError):
            return {}

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Kill one child (its pid from the stack's pid file); returns the pid."""
        pid = self.pids()[name]
        os.kill(pid, sig)
        return pid

    def kill_up(self) -> None:
        """SIGKILL ``fieldstream up`` itself: its children get SIGTERM from the kernel."""
        assert self.proc is not None
        children = [p for n, p in self.pids().items() if n != "up"]
        self.proc.kill()
        self.proc.wait()
        for pid in children:  # a stopped child must run to act on its SIGTERM
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        _wait_gone(children)

    def stop(self, timeout_s: float = 120.0) -> None:
        """A clean stop: SIGTERM to ``up`` (it drains, then stops the broker last)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        children = [p for n, p in self.pids().items() if n != "up"]
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        _wait_gone(children)

    def store(self) -> HttpSinkAccess:
        return HttpSinkAccess(self.sink_base, admin_token(self.settings.query))

    def wait_new_pid(self, name: str, old_pid: int, timeout_s: float = 120.0) -> int:
        """Until the stack has started ``name`` under a pid other than ``old_pid``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pid = self.pids().get(name)
            if pid is not None and pid != old_pid:
                return pid
            time.sleep(0.1)
        raise AssertionError(f"{name} was not started again in {timeout_s:.0f}s:\n{self.tail()}")

    def wait_restarted(self, name: str, old_pid: int, timeout_s: float = 180.0) -> None:
        """Until the stack runs ``name`` again under a new pid and is healthy."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pid = self.pids().get(name)
            if pid is not None and pid != old_pid and self._healthy():
                return
            time.sleep(0.5)
        raise AssertionError(f"{name} was not restarted in {timeout_s:.0f}s:\n{self.tail()}")


def _wait_gone(pids: list[int], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)


def load_demo_side_inputs(settings: Settings, stack: DrillStack) -> None:
    """The demo's voters (on the voters topic), goals and universes (through the sink)."""
    demo = generate_demo(settings.data_dir / "demo", seed=7)
    store = stack.store()
    try:
        load_goals(store, demo.goals)
        for path in demo.universes:
            load_universe(store, path)
    finally:
        store.close()
    load_voters(demo.voters, demo.voters_mapping, settings.kafka)


@contextlib.contextmanager
def running_drill(
    data_dir: Path, *, workers: int = 1, partitions: int | None = None, **sender: Any
) -> Iterator[tuple[DrillStack, Sender]]:
    """The embedded stack on the demo's side inputs, and a Sender (not yet started) with
    ``sender``'s options; both stopped on the way out, whatever failed."""
    settings = drill_settings(data_dir)
    if partitions is not None:
        settings.kafka.partitions = partitions
    stack = DrillStack(settings, workers=workers)
    stack.start()
    try:
        load_demo_side_inputs(settings, stack)
        posting = Sender(stack, demo_voters(settings), **sender)
        try:
            yield stack, posting
        finally:
            posting.finish()
    finally:
        stack.stop()


def demo_voters(settings: Settings) -> list[str]:
    demo = generate_demo(settings.data_dir / "demo", seed=7)
    with demo.voters.open() as f:
        next(f)
        return [line.split(",", 1)[0] for line in f]


@dataclass
class Ledger:
    """What the sender saw acknowledged (the truth the store is recounted against)."""

    good: dict[str, dict[str, Any]] = field(default_factory=dict)  # source_event_id -> event
    bad: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    resent: int = 0

    @property
    def acked(self) -> int:
        return len(self.good) + len(self.bad)


class Sender(threading.Thread):
    """Posts ``rate`` events/s in batches of ``batch``; retries until 2xx (see the module)."""

    def __init__(
        self,
        stack: DrillStack,
        voters: list[str],
        *,
        rate: float = 100.0,
        batch: int = 10,
        bad_share: float = 0.03,
        resend_share: float = 0.05,
        seed: int = 1,
        start_at: int = 0,
    ) -> None:
        super().__init__(daemon=True, name="drill-sender")
        sources = yaml.safe_load(stack.settings.gateway.sources_file.read_text())["sources"]
        secret = next(s["secrets"][0] for s in sources if s["id"] == SOURCE)
        self.headers = {"X-Fieldstream-Source": SOURCE, "Authorization": f"Bearer {secret}"}
        self.url = f"{stack.base}/v1/events"
        self.voters, self.rate, self.batch = voters, rate, batch
        self.bad_share, self.resend_share = bad_share, resend_share
        self.rng = random.Random(seed)
        self.next_id = start_at
        self.ledger = Ledger()
        self.paused = threading.Event()
        self.stopping = threading.Event()
        self.idle = threading.Event()
        self.sent_batches: list[list[dict[str, Any]]] = []

    def event(self) -> dict[str, Any]:
        self.next_id += 1
        bad = self.rng.random() < self.bad_share
        channel = self.rng.choice(["door", "phone"])
        result = self.rng.choice(["canvassed", "canvassed", "not_home", "refused"])
        at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.rng.randint(1, 600))
        ev: dict[str, Any] = {
            "source_system": "drill",
            "source_event_id": str(self.next_id),
            "org_id": ORG,
            "campaign_id": BAD_CAMPAIGN if bad else CAMPAIGN,
            "channel": channel,
            "occurred_at": at.isoformat(),
            "person": {"voter_id": self.rng.choice(self.voters), "state": "ZZ"},
            "result": result,
            "result_raw": result,
        }
        if result == "canvassed" and self.rng.random() < 0.5:
            level = self.rng.randint(1, 5)
            ev["responses"] = [
                {"question_id": "support", "answer": str(level), "support_level": level}
            ]
        return ev

    def post(self, events: list[dict[str, Any]], client: httpx.Client) -> None:
        """Send until a 2xx (or the drill ends); record the acknowledged events."""
        first = True
        while True:
            self.ledger.requests += 1
            if not first:
                self.ledger.retries += 1
            first = False
            try:
                r = client.post(self.url, json=events, headers=self.headers, timeout=15)
                if r.status_code == 202:
                    break
            except httpx.HTTPError:
                pass
            if self.stopping.is_set() and self.paused.is_set():
                return
            time.sleep(0.2)
        for ev in events:
            target = self.ledger.bad if ev["campaign_id"] == BAD_CAMPAIGN else self.ledger.good
            target[ev["source_event_id"]] = ev

    def run(self) -> None:
        period = self.batch / self.rate
        with httpx.Client() as client:
            while not self.stopping.is_set():
                if self.paused.is_set():
                    self.idle.set()
                    time.sleep(0.05)
                    continue
                self.idle.clear()
                started = time.monotonic()
                if self.sent_batches and self.rng.random() < self.resend_share:
                    events = self.rng.choice(self.sent_batches)  # a sender that lost the answer
                    self.ledger.resent += 1
                else:
                    events = [self.event() for _ in range(self.batch)]
                self.post(events, client)
                self.sent_batches = [*self.sent_batches[-50:], events]
                time.sleep(max(0.0, period - (time.monotonic() - started)))
        self.idle.set()

    def pause(self, timeout_s: float = 120.0) -> None:
        """Stop sending new batches once the one in flight is acknowledged."""
        self.paused.set()
        self.idle.wait(timeout_s)

    def resume(self) -> None:
        self.paused.clear()

    def finish(self) -> None:
        self.pause()
        self.stopping.set()
        self.join(30)


@dataclass
class Recount:
    acked: int
    stored: int
    lost: int
    double_counted: int
    extra: int
    board_mismatches: list[str]
    dead_letters: int
    rejected: int

    @property
    def exact(self) -> bool:
        return (
            self.lost == 0
            and self.double_counted == 0
            and self.extra == 0
            and not self.board_mismatches
            and self.dead_letters == self.rejected
        )


def _rows(store: HttpSinkAccess, sql: str) -> list[list[Any]]:
    return store.query(sql)[1]


def recount(stack: DrillStack, ledger: Ledger, *, wait_s: float = 180.0) -> Recount:
    """Wait until the store holds what was acknowledged (or ``wait_s`` passed), then compare
    every figure with a recount of the acknowledged events."""
    want = {ev["source_event_id"] for ev in ledger.good.values()}
    deadline = time.monotonic() + wait_s
    store = stack.store()
    try:
        while True:
            stored_ids = {
                str(r[0])
                for r in _rows(
                    store,
                    "SELECT DISTINCT source_event_id FROM contact_events "
                    "WHERE source_system = 'drill'",
                )
            }
            letters = int(
                _rows(
                    store,
                    "SELECT count() FROM dead_letters FINAL WHERE reason_code = 'unknown_campaign'"
                    " AND source_system = 'drill'",
                )[0][0]
            )
            if (want <= stored_ids and letters >= len(ledger.bad)) or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        rows, distinct = (
            int(v)
            for v in _rows(
                store,
                "SELECT count(), uniqExact(event_id) FROM contact_events "
                "WHERE source_system = 'drill'",
            )[0]
        )
        # the boards' tables follow on the ledger keeper's passes (and its recount of healed
        # cells): give them until the deadline, a minute at least
        settle = max(deadline, time.monotonic() + 60)
        mismatches = _board_mismatches(store, ledger)
        while mismatches and time.monotonic() < settle:
            time.sleep(1.0)
            mismatches = _board_mismatches(store, ledger)
    finally:
        store.close()
    return Recount(
        acked=ledger.acked,
        stored=len(stored_ids),
        lost=len(want - stored_ids),
        double_counted=rows - distinct,
        extra=len(stored_ids - want),
        board_mismatches=mismatches,
        dead_letters=letters,
        rejected=len(ledger.bad),
    )


def _board_mismatches(store: HttpSinkAccess, ledger: Ledger) -> list[str]:
    """Each rollup figure that differs from the recount of the acknowledged events."""
    events = list(ledger.good.values())
    attempts = Counter(ev["channel"] for ev in events)
    contacts = Counter(ev["channel"] for ev in events if ev["result"] == "canvassed")
    ids = Counter(ev["channel"] for ev in events if ev.get("responses"))
    got = {
        str(r[0]): (int(r[1]), int(r[2]), int(r[3]))
        for r in _rows(
            store,
            "SELECT channel, sum(attempts), sum(contacts), sum(ids) FROM contact_progress_daily "
            f"WHERE org_id = '{ORG}' AND campaign_id = '{CAMPAIGN}' GROUP BY channel",
        )
    }
    out = []
    for channel in sorted(set(attempts) | set(got)):
        want = (attempts[channel], contacts[channel], ids[channel])
        if got.get(channel, (0, 0, 0)) != want:
            out.append(f"contact_progress_daily {channel}: {got.get(channel)} != {want}")
    weeks: Counter[str] = Counter()
    for ev in events:
        # goals' weeks are on the program's clock (no zone in the drill's programs.yaml)
        at = dt.datetime.fromisoformat(ev["occurred_at"])
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        day = at.astimezone(ZoneInfo(DEFAULT_TIMEZONE)).date()
        weeks[(day - dt.timedelta(days=day.weekday())).isoformat()] += 1
    goal = {
        str(r[0])[:10]: int(r[1])
        for r in _rows(
            store,
            "SELECT week_start, actual FROM goal_progress WHERE metric = 'attempts' "
            f"AND org_id = '{ORG}' AND campaign_id = '{CAMPAIGN}'",
        )
    }
    for week, n in weeks.items():
        if week in goal and goal[week] != n:
            out.append(f"goal_progress attempts {week}: {goal[week]} != {n}")
    return out
