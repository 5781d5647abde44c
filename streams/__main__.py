"""``python -m streams``: run the stream worker (like ``faust -A streams.app worker -l info``
with the web server on ``stream.web_port``), configured from the environment."""

from __future__ import annotations

import logging
import sys

import faust
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from core.errors import BrokerError, ConfigError, FieldstreamError
from core.kafka import ensure_topics, wait_for_broker
from core.settings import Settings, load_settings
from streams.agents.contacts import register
from streams.app import create_app

log = logging.getLogger("streams")


def check_partitions(settings: Settings, changelog_topic: str) -> None:
    """The dedupe table's changelog must have as many partitions as contacts.raw."""
    kafka = settings.kafka
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap_servers})
    try:
        topics = admin.list_topics(timeout=10).topics
    except KafkaException as exc:
        raise BrokerError(f"cannot list topics at {kafka.bootstrap_servers}: {exc}") from exc
    for name in (kafka.topics.raw, kafka.topics.raw_bulk):
        raw = topics.get(name)
        if raw is not None and len(raw.partitions) != kafka.partitions:
            raise ConfigError(
                f"topic {name} has {len(raw.partitions)} partitions but "
                f"kafka.partitions is {kafka.partitions}: set FIELDSTREAM_KAFKA__PARTITIONS="
                f"{len(raw.partitions)} (the dedupe table is co-partitioned with it)"
            )
    changelog = topics.get(changelog_topic)
    if changelog is not None and len(changelog.partitions) != kafka.partitions:
        raise ConfigError(
            f"the dedupe changelog {changelog_topic} has {len(changelog.partitions)} partitions, "
            f"{kafka.topics.raw} has {kafka.partitions}: they must match; delete the changelog "
            "(it is rebuilt, forgetting seen ids) or use another stream.app_id"
        )


def main() -> int:
    try:
        settings = load_settings()
        wait_for_broker(settings.kafka.bootstrap_servers)
        ensure_topics(settings.kafka)
        app = create_app(settings)
        stage = register(app, settings)
        check_partitions(settings, stage.seen.changelog_topic)
    except FieldstreamError as exc:
        logging.basicConfig(level=logging.INFO)
        log.error("stream worker cannot start: %s", exc)
        return 2
    worker = faust.Worker(app, loglevel=settings.log_level.lower())
    worker.execute_from_commandline()  # runs until SIGTERM/SIGINT, then exits the process
    return 0


if __name__ == "__main__":
    sys.exit(main())
