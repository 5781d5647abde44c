"""Prometheus metrics, declared the same way in every service.

Each service (gateway, stream, sink, exchange) subclasses :class:`Metrics`: its own registry
(so tests can build several), counters, gauges and histograms declared through
:meth:`Metrics.counter` and friends, and one :meth:`Metrics.exposition` for its /metrics page.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()

    def counter(self, name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, doc, list(labels), registry=self.registry)

    def gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, doc, list(labels), registry=self.registry)

    def histogram(
        self, name: str, doc: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> Histogram:
        return Histogram(name, doc, list(labels), registry=self.registry, buckets=tuple(buckets))

    def exposition(self) -> bytes:
        """The text exposition format of every metric (the /metrics page's body)."""
        return generate_latest(self.registry)
