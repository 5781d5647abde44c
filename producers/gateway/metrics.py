"""The gateway's Prometheus metrics, on a registry of their own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from core.metrics import Metrics


class GatewayMetrics(Metrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.requests = self.counter(
            "fieldstream_gateway_requests",
            "Requests by status",
            ["status"],
        )
        self.accepted = self.counter(
            "fieldstream_gateway_events_accepted",
            "Events produced to Kafka",
            ["source"],
        )
        self.refused = self.counter(
            "fieldstream_gateway_events_refused",
            "Events refused, by reason",
            ["reason"],
        )
        self.produce_seconds = self.histogram(
            "fieldstream_gateway_produce_seconds",
            "Produce until acked, per request",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.request_seconds = self.histogram(
            "fieldstream_gateway_request_seconds",
            "Whole request",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
