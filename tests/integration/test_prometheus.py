"""Prometheus for real: Debian's ``prometheus`` scrapes the embedded stack's /metrics pages
(gateway, stream, sink) under a steady load with some refused and dead-lettered events, loads
the alert rules of deploy/prometheus/, and every Prometheus query of the pipeline-health board
returns data (but the write-back's panels: no write-back runs here)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fieldstream.embedded import free_port
from tests.factories.drill import (
    REPO,
    DrillStack,
    Sender,
    running_drill,
)
from tests.factories.stream import wait_until

pytestmark = pytest.mark.integration

RATE_INTERVAL = "30s"  # what Grafana's $__rate_interval stands for here (scrapes every 1 s)


WRITEBACK = "fieldstream_writeback_"  # the write-back's panels: only where an org writes back


def board_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every Prometheus target on the pipeline-health board, but the
    write-back's: this stack runs no write-back (no org has VAN credentials here), so those
    panels have no series (their metric names are checked by test_dashboards)."""
    board = json.loads((REPO / "grafana" / "dashboards" / "pipeline-health.json").read_text())
    out = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                if (target.get("datasource") or {}).get("type") == "prometheus":
                    expr = target["expr"].replace("$__rate_interval", RATE_INTERVAL)
                    if WRITEBACK not in expr:
                        out.append((panel["title"], expr))
            walk(panel.get("panels", []))

    walk(board["panels"])
    return out


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, DrillStack, Sender]]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed: ./dev test installs Debian's package"
    with running_drill(tmp_path / "data", rate=40.0, bad_share=0.1) as (stack, sender):
        yield from _scraping(tmp_path, binary, stack, sender)


def _scraping(
    tmp_path: Path, binary: str, stack: DrillStack, sender: Sender
) -> Iterator[tuple[str, DrillStack, Sender]]:
    """Prometheus scraping the drill's services, stopped on the way out."""
    s = stack.settings
    jobs = {
        "fieldstream-gateway": f"{s.gateway.host}:{s.gateway.port}",
        "fieldstream-stream": f"{s.stream.web_host}:{s.stream.web_port}",
        "fieldstream-sink": f"{s.sink.query_host}:{s.sink.query_port}",
    }
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(REPO / "deploy" / "prometheus" / "alerts.yml")],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in jobs.items()
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with (tmp_path / "prometheus.log").open("ab") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(base), 60, "Prometheus to be ready")
        yield base, stack, sender
    finally:
        proc.terminate()
        proc.wait(30)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def query(base: str, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10)
    body = r.json()
    assert body["status"] == "success", (expr, body)
    return list(body["data"]["result"])


def test_every_pipeline_health_query_returns_data(
    prometheus: tuple[str, DrillStack, Sender],
) -> None:
    base, stack, sender = prometheus
    sender.start()
    # a request the gateway refuses, so its refusals have a series
    r = httpx.post(f"{stack.base}/v1/events", content=b"{not json", headers=sender.headers)
    assert r.status_code == 400
    queries = board_queries()
    assert len(queries) >= 10, queries

    def all_answer() -> bool:
        return all(query(base, expr) for _title, expr in queries)

    try:
        wait_until(all_answer, 180, "every board query to return data")
    except AssertionError:
        empty = [(t, e) for t, e in queries if not query(base, e)]
        raise AssertionError(f"no data for {empty}") from None
    targets = httpx.get(f"{base}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
    assert {t["labels"]["job"]: t["health"] for t in targets} == {
        "fieldstream-gateway": "up",
        "fieldstream-stream": "up",
        "fieldstream-sink": "up",
    }
    # the data behind the figures is real: events flowed end to end
    assert float(query(base, "sum(fieldstream_sink_rows_inserted_total)")[0]["value"][1]) > 0
    dlq = query(base, "sum by (reason_code) (fieldstream_stream_dlq_total)")
    assert {d["metric"]["reason_code"] for d in dlq} >= {"unknown_campaign"}
    groups = httpx.get(f"{base}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = [rule for g in groups for rule in g["rules"]]
    assert len(rules) >= 10
    assert all(rule["health"] == "ok" for rule in rules), [
        (rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"
    ]
