"""The write-back's Prometheus metrics (``/metrics`` of ``python -m sinks.writeback``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from core.metrics import Metrics


class WritebackMetrics(Metrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.posted = self.counter(
            "fieldstream_writeback_posted", "Contacts VAN accepted, by org", ["org"]
        )
        self.answers = self.counter(
            "fieldstream_writeback_answers",
            "VAN's answers to the write-back, by org, outcome and VAN error code",
            ["org", "outcome", "code"],
        )
        self.paused = self.gauge(
            "fieldstream_writeback_paused_seconds",
            "How long the org's API key was last paused after VAN said 429 or failed",
            ["org"],
        )
        self.contacts = self.gauge(
            "fieldstream_writeback_contacts",
            "Contacts in the write-back ledger, by org, source and state",
            ["org", "source", "state"],
        )
        self.lag = self.gauge(
            "fieldstream_writeback_lag_seconds",
            "Age of the oldest contact not yet in VAN (0 when none is waiting)",
        )
