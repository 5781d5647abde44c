"""The gateway's Prometheus metrics, on a registry of their own (one per app)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "fieldstream_gateway_requests", "Requests by status", ["status"], registry=r
        )
        self.accepted = Counter(
            "fieldstream_gateway_events_accepted",
            "Events produced to Kafka",
            ["source"],
            registry=r,
        )
        self.refused = Counter(
            "fieldstream_gateway_events_refused",
            "Events refused, by reason",
            ["reason"],
            registry=r,
        )
        self.produce_seconds = Histogram(
            "fieldstream_gateway_produce_seconds",
            "Produce until acked, per request",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.request_seconds = Histogram(
            "fieldstream_gateway_request_seconds",
            "Whole request",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
