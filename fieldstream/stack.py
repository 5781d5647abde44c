"""Run the embedded stack: Tansu, the sink (owner of the chDB directory), the stream worker and
the gateway, each in its own process, with the same settings the services read in production.

Only this module knows that the broker is started locally; the services themselves read
settings and nothing else.
"""

from __future__ import annotations

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


@dataclass
class Stack:
    """Start and stop the embedded stack. Use as a context manager."""

    settings: Settings
    log_dir: Path
    start_broker: bool = True
    services: list[Service] = field(default_factory=list)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSTREAM_")}
        env.update(settings_env(self.settings))
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _spawn(self, name: str, args: list[str]) -> Service:
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
        service = Service(name, proc, log_path)
        self.services.append(service)
        return service

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

    def start_core(self, timeout_s: float = 90.0) -> None:
        """Broker, topics and the sink: what loading side inputs needs."""
        s = self.settings
        self._check_ports()
        if self.start_broker:
            port = int(s.kafka.bootstrap_servers.rpartition(":")[2])
            self.log_dir.mkdir(parents=True, exist_ok=True)
            tansu = start_tansu(port, self.log_dir / "tansu.log")
            self.services.append(Service("tansu", tansu, self.log_dir / "tansu.log"))
        ensure_topics(s.kafka)
        sink = self._spawn("sink", [sys.executable, "-m", "sinks"])
        wait_healthy(
            f"http://{s.sink.query_host}:{s.sink.query_port}/healthz",
            sink.proc,
            "sink",
            sink.log_path,
            timeout_s,
        )

    def start_pipeline(self, timeout_s: float = 90.0) -> None:
        """The stream worker and the gateway (after voters are on their topic)."""
        s = self.settings
        stream = self._spawn("stream", [sys.executable, "-m", "streams"])
        gateway = self._spawn("gateway", [sys.executable, "-m", "producers.gateway"])
        if s.exchange.our_partner_id:  # the data exchange, when this deployment is in one
            self._spawn("exchange", [sys.executable, "-m", "streams.exchange"])
        wait_healthy(
            f"http://{s.gateway.host}:{s.gateway.port}/healthz",
            gateway.proc,
            "gateway",
            gateway.log_path,
            timeout_s,
        )
        wait_healthy(
            f"http://{s.stream.web_host}:{s.stream.web_port}/healthz",
            stream.proc,
            "stream",
            stream.log_path,
            timeout_s,
        )

    def spawn_simulator(self, rate: float, duration_s: float | None) -> Service:
        args = [sys.executable, "-m", "fieldstream.cli", "simulate", "--rate", str(rate)]
        if duration_s:
            args += ["--duration", str(duration_s)]
        return self._spawn("simulator", args)

    def dead(self) -> list[Service]:
        """Services that exited on their own (the simulator may finish normally)."""
        return [s for s in self.services if s.proc.poll() is not None and s.name != "simulator"]

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop in reverse start order: SIGTERM, wait, then SIGKILL."""
        for service in reversed(self.services):
            if service.proc.poll() is None:
                service.proc.send_signal(signal.SIGTERM)
                try:
                    service.proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in %.0fs; killing it", service.name, timeout_s)
                    service.proc.kill()
                    service.proc.wait()
        self.services.clear()
