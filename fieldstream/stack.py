"""Run and supervise the embedded stack: Tansu, the sink (owner of the chDB directory), the stream
worker and the gateway, each in its own process, with the same settings the services read in
production.

Only this module knows that the broker is started locally; the services themselves read
settings and nothing else.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr

from core.errors import FieldstreamError
from core.kafka import ensure_topics
from core.settings import Settings
from fieldstream.embedded import die_with_parent, start_tansu
from fieldstream.journal_keeper import replay, trim
from sinks.remote import connect_store

log = logging.getLogger(__name__)


def settings_env(settings: Settings) -> dict[str, str]:
    """Flatten settings into FIELDSTREAM_* variables the child processes read back."""
    env: dict[str, str] = {}

    def walk(prefix: str, model: BaseModel) -> None:
        for name in type(model).model_fields:
            value: Any = getattr(model, name)
            key = f"{prefix}{name.upper()}"
            if isinstance(value, BaseModel):
                walk(key + "__", value)
            elif value is None:
                continue
            elif isinstance(value, SecretStr):
                env[key] = value.get_secret_value()
            elif isinstance(value, bool):
                env[key] = "true" if value else "false"
            elif isinstance(value, dict):  # JSON, as pydantic-settings reads it back
                env[key] = json.dumps(
                    {
                        k: v.get_secret_value() if isinstance(v, SecretStr) else v
                        for k, v in value.items()
                    }
                )
            else:
                env[key] = str(value)

    walk("FIELDSTREAM_", settings)
    return env


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def wait_healthy(
    url: str, proc: subprocess.Popen[bytes], name: str, log_path: Path, timeout_s: float
) -> None:
    """Poll ``url`` until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise FieldstreamError(
                f"{name} exited with code {proc.returncode} while starting; see {log_path}"
            )
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise FieldstreamError(f"{name} was not ready after {timeout_s:.0f}s; see {log_path}")


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    args: list[str] | None = None  # how to start it again (None: not restarted alone)
    health: str | None = None  # its /healthz, waited for after a restart
    restarts: list[float] = field(default_factory=list)  # monotonic times, recent ones
    retry_at: float = 0.0


INTAKE = ("simulator", "gateway")  # stopped first on a clean stop


@dataclass
class Stack:
    """Start, supervise and stop the embedded stack. Use as a context manager.

    Supervision (:meth:`supervise`, called by ``fieldstream up`` about twice a second): a child
    that died is started again, at once and then with backoff (1, 2, 4 ... 30 s); more than
    ``max_restarts`` restarts of one child within ``restart_window_s`` gives up (the child is
    returned, and ``up`` stops the stack loudly). When the broker dies, every topic, offset and
    changelog died with it (memory storage): the stack is started again in order (broker,
    topics, the sink, which republishes the voters from the store, the journal replayed, the
    stream and the gateway), and the journal and the sink's ledger make the counts whole.

    A clean stop (:meth:`stop`) stops intake first (the simulator, the gateway), waits until
    the stream and the sink have caught up with what was accepted, then stops the rest and
    the broker last.
    """

    settings: Settings
    log_dir: Path
    start_broker: bool = True
    services: list[Service] = field(default_factory=list)
    max_restarts: int = 5
    restart_window_s: float = 300.0
    drain_timeout_s: float = 60.0
    trim_every_s: float = 30.0
    _pipeline: bool = False
    _next_trim: float = 0.0

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSTREAM_")}
        env.update(settings_env(self.settings))
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _popen(self, name: str, args: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        out = open(log_path, "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=self._env(),
            start_new_session=True,  # Ctrl-C reaches only us; we stop them in order
            preexec_fn=die_with_parent,
        )
        out.close()
        return proc, log_path

    def _spawn(self, name: str, args: list[str], health: str | None = None) -> Service:
        proc, log_path = self._popen(name, args)
        service = Service(name, proc, log_path, args, health)
        self.services.append(service)
        self._record()
        return service

    def _record(self) -> None:
        """Write ``<data dir>/run/stack.json``: each running child's pid (for operators and
        the fault drills)."""
        run = self.settings.data_dir / "run"
        run.mkdir(parents=True, exist_ok=True)
        pids = {s.name: s.proc.pid for s in self.services if s.proc.poll() is None}
        pids["up"] = os.getpid()
        tmp = run / "stack.json.tmp"
        tmp.write_text(json.dumps(pids))
        tmp.replace(run / "stack.json")

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def _check_ports(self) -> None:
        s = self.settings
        wanted = [
            ("gateway", s.gateway.host, s.gateway.port),
            ("stream web", s.stream.web_host, s.stream.web_port),
            ("sink query API", s.sink.query_host, s.sink.query_port),
        ]
        if self.start_broker:
            host, _, port = s.kafka.bootstrap_servers.rpartition(":")
            wanted.append(("Kafka broker", host or "127.0.0.1", int(port)))
        busy = [f"{what} ({h}:{p})" for what, h, p in wanted if not port_is_free(h, p)]
        if busy:
            raise FieldstreamError(
                "ports already in use: "
                + ", ".join(busy)
                + ". Is another fieldstream running? Stop it, or set other ports "
                "(e.g. FIELDSTREAM_GATEWAY__PORT)."
            )

    def _start_broker(self) -> None:
        port = int(self.settings.kafka.bootstrap_servers.rpartition(":")[2])
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / "tansu.log"
        tansu = start_tansu(port, log_path)
        old = self.service("tansu")
        if old is not None:
            old.proc = tansu
        else:
            self.services.insert(0, Service("tansu", tansu, log_path))
        self._record()

    def start_core(self, timeout_s: float = 90.0, *, check_ports: bool = True) -> None:
        """Broker, topics and the sink: what loading side inputs needs. The sink puts the
        store's voters back on an empty voters topic before it reports healthy."""
        s = self.settings
        if check_ports:
            self._check_ports()
        if self.start_broker:
            self._start_broker()
        ensure_topics(s.kafka)
        sink = self._spawn(
            "sink",
            [sys.executable, "-m", "sinks"],
            f"http://{s.sink.query_host}:{s.sink.query_port}/healthz",
        )
        wait_healthy(sink.health or "", sink.proc, "sink", sink.log_path, timeout_s)
        self.replay_journal()

    def replay_journal(self) -> int:
        """Put what the gateway journaled back on the broker (what the store holds is dropped
        by the sink); returns how many messages."""
        if not self.settings.gateway.journal:
            return 0
        n = replay(self.settings)
        if n:
            log.info("journal: %d messages replayed", n)
        return n

    def start_pipeline(self, timeout_s: float = 90.0) -> None:
        """The stream worker, the quality agent and the gateway (after voters are on their
        topic)."""
        s = self.settings
        stream = self._spawn(
            "stream",
            [sys.executable, "-m", "streams"],
            f"http://{s.stream.web_host}:{s.stream.web_port}/healthz",
        )
        gateway = self._spawn(
            "gateway",
            [sys.executable, "-m", "producers.gateway"],
            f"http://{s.gateway.host}:{s.gateway.port}/healthz",
        )
        self._spawn("quality", [sys.executable, "-m", "streams.quality"])  # docs/quality.md
        if s.exchange.our_partner_id:  # the data exchange, when this deployment is in one
            self._spawn("exchange", [sys.executable, "-m", "streams.exchange"])
        if s.writeback.config_file.exists():  # the write-back to VAN, when an org has one
            self._spawn(
                "writeback",
                [sys.executable, "-m", "sinks.writeback"],
                f"http://{s.writeback.metrics_host}:{s.writeback.metrics_port}/metrics",
            )
        for service in (gateway, stream):
            wait_healthy(
                service.health or "", service.proc, service.name, service.log_path, timeout_s
            )
        self._pipeline = True

    def spawn_simulator(self, rate: float, duration_s: float | None) -> Service:
        args = [sys.executable, "-m", "fieldstream.cli", "simulate", "--rate", str(rate)]
        if duration_s:
            args += ["--duration", str(duration_s)]
        return self._spawn("simulator", args)

    def dead(self) -> list[Service]:
        """Services that exited on their own (the simulator may finish normally)."""
        return [s for s in self.services if s.proc.poll() is not None and s.name != "simulator"]

    # -- supervision -----------------------------------------------------------------------

    def supervise(self, now: float | None = None) -> list[Service]:
        """Restart what died (see the class doc); returns the services given up on."""
        at = time.monotonic() if now is None else now
        given_up: list[Service] = []
        for service in self.dead():
            service.restarts = [t for t in service.restarts if at - t < self.restart_window_s]
            if len(service.restarts) >= self.max_restarts:
                log.error(
                    "%s died %d times in %.0fs; giving up (see %s)",
                    service.name,
                    len(service.restarts) + 1,
                    self.restart_window_s,
                    service.log_path,
                )
                given_up.append(service)
                continue
            if at < service.retry_at:
                continue
            service.restarts.append(at)
            service.retry_at = at + min(30.0, 2.0 ** (len(service.restarts) - 1))
            code = service.proc.returncode
            if service.name == "tansu":
                log.error("the broker died (exit %s): starting the stack again", code)
                self._restart_all()
                return given_up
            log.error(
                "%s died (exit %s); restarting it (restart %d in %.0fs; log %s)",
                service.name,
                code,
                len(service.restarts),
                self.restart_window_s,
                service.log_path,
            )
            self._restart(service)
        if at >= self._next_trim:
            self._next_trim = at + self.trim_every_s
            self.trim_journal()
        return given_up

    def _restart(self, service: Service) -> None:
        if service.args is None:
            raise FieldstreamError(f"{service.name} cannot be restarted on its own")
        service.proc, service.log_path = self._popen(service.name, service.args)
        self._record()
        if service.health:
            try:
                wait_healthy(service.health, service.proc, service.name, service.log_path, 90)
            except FieldstreamError as exc:
                log.error("%s", exc)  # it is dead again: the next supervise() sees it

    def _restart_all(self) -> None:
        """After the broker died: every child again, in the order of a start."""
        keep = [s for s in self.services if s.name == "tansu"]
        simulator = self.service("simulator")
        for service in reversed(self.services):
            if service.name != "tansu":
                _terminate(service, 10.0)
        self.services = keep
        pipeline = self._pipeline
        self.start_core(check_ports=False)
        if pipeline:
            self.start_pipeline()
        if simulator is not None and simulator.args is not None:
            self._spawn("simulator", simulator.args)

    def trim_journal(self) -> None:
        """Delete the journal segments the store holds in full (needs the sink)."""
        if not self.settings.gateway.journal or self.service("sink") is None:
            return
        try:
            store = connect_store(self.settings)
            try:
                report = trim(self.settings, store)
            finally:
                store.close()
        except FieldstreamError as exc:
            log.warning("journal trim skipped: %s", exc)
            return
        if report.trimmed or report.expired:
            log.info(
                "journal: %d segments trimmed, %d kept (%d messages not stored yet)",
                report.trimmed,
                report.kept,
                report.pending,
            )

    # -- stopping --------------------------------------------------------------------------

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop intake, wait until the stream and the sink caught up, then stop the rest in
        reverse start order (the broker last): SIGTERM, wait, then SIGKILL."""
        for name in INTAKE:
            service = self.service(name)
            if service is not None:
                _terminate(service, timeout_s)
        if self._pipeline and not self.dead():
            self._wait_drained()
        for service in reversed(self.services):
            _terminate(service, timeout_s)
        self.services.clear()
        self._pipeline = False

    def _wait_drained(self) -> None:
        """Until every lag gauge of the stream and the sink reads 0 twice in a row."""
        s = self.settings
        pages = [
            f"http://{s.stream.web_host}:{s.stream.web_port}/metrics",
            f"http://{s.sink.query_host}:{s.sink.query_port}/metrics",
        ]
        deadline = time.monotonic() + self.drain_timeout_s
        calm = 0
        while time.monotonic() < deadline:
            calm = calm + 1 if all(_lag(page) == 0 for page in pages) else 0
            if calm >= 2:
                log.info("stream and sink caught up; stopping")
                return
            time.sleep(1.0)
        log.warning(
            "stream and sink did not catch up in %.0fs; stopping anyway (the journal "
            "and the broker's next start replay what is left)",
            self.drain_timeout_s,
        )


def _lag(metrics_url: str) -> float | None:
    """The sum of the ``*_consumer_lag`` gauges on a /metrics page (None: unreadable)."""
    try:
        text = httpx.get(metrics_url, timeout=2.0).text
    except httpx.HTTPError:
        return None
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if "_consumer_lag{" in line and not line.startswith("#")
    )


def _terminate(service: Service, timeout_s: float) -> None:
    if service.proc.poll() is not None:
        return
    service.proc.send_signal(signal.SIGTERM)
    try:
        service.proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop in %.0fs; killing it", service.name, timeout_s)
        service.proc.kill()
        service.proc.wait()
