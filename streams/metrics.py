"""Prometheus metrics of the stream stage (served on the worker's /metrics page).

Counts are added once per batch from the batch's tallies, not per event.
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry

from core.metrics import CONTENT_TYPE_LATEST, Metrics
from streams.logic.process import DLQ, DUPLICATE, ENRICHED, BatchResult

__all__ = ["CONTENT_TYPE_LATEST", "StreamMetrics"]


class StreamMetrics(Metrics):
    """The stage's metrics in their own registry (so tests can build several)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.events_in = self.counter(
            "fieldstream_stream_events_in",
            "Raw contact events read",
        )
        self.enriched = self.counter(
            "fieldstream_stream_enriched",
            "Events written to contacts.enriched",
        )
        self.dlq = self.counter(
            "fieldstream_stream_dlq",
            "Events written to the dead-letter topic, by reason code",
            ["reason_code"],
        )
        self.duplicates = self.counter(
            "fieldstream_stream_duplicates_dropped",
            "Events dropped because their event id was accepted before",
        )
        self.unmatched = self.counter(
            "fieldstream_stream_unmatched_voters",
            "Enriched events whose person is not on the voter file, by source system",
            ["source_system"],
        )
        self.batch_seconds = self.histogram(
            "fieldstream_stream_batch_seconds",
            "Time to process, produce, mark and ack one batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.delivery_retries = self.counter(
            "fieldstream_stream_delivery_retries",
            "Output messages produced again after a failed delivery",
        )
        self.dedupe_keys = self.gauge(
            "fieldstream_stream_dedupe_keys",
            "Event ids held in the dedupe table",
        )
        self.voters = self.gauge(
            "fieldstream_stream_voters",
            "Voters held in the voter directory",
        )
        self.lag = self.gauge(
            "fieldstream_stream_consumer_lag",
            "Raw events on the broker not yet processed (high watermark - next to process)",
            ["topic", "partition"],
        )

        self.assigned = self.gauge(
            "fieldstream_stream_assigned_partitions",
            "Partitions of contacts.raw this worker holds in its group",
        )

    def observe_batch(self, result: BatchResult, seconds: float) -> None:
        counts = result.counts
        self.events_in.inc(counts[ENRICHED] + counts[DLQ] + counts[DUPLICATE])
        if counts[ENRICHED]:
            self.enriched.inc(counts[ENRICHED])
        if counts[DUPLICATE]:
            self.duplicates.inc(counts[DUPLICATE])
        reasons: Tally[str] = Tally()
        unmatched: Tally[str] = Tally()
        for o in result.outcomes:
            if o.kind == DLQ:
                reasons[o.reason_code or "unknown"] += 1
            elif o.kind == ENRICHED and not o.voter_matched:
                unmatched[o.source_system or "unknown"] += 1
        for code, n in reasons.items():
            self.dlq.labels(reason_code=code).inc(n)
        for source, n in unmatched.items():
            self.unmatched.labels(source_system=source).inc(n)
        self.batch_seconds.observe(seconds)
