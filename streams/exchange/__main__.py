"""``python -m streams.exchange``: run the exchange agent (see streams/exchange/agent.py).

Reads the agreements and keys files named by the exchange settings, creates the exchange's
topics if missing, and shares until SIGTERM/SIGINT. SIGHUP reloads the agreements at once
(they are also reloaded when the file changes).
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Sequence
from functools import partial
from types import FrameType

from confluent_kafka.admin import NewTopic

from core.errors import FieldstreamError
from core.kafka import (
    consumer_config,
    create_missing_topics,
    ensure_topics,
    producer_config,
    wait_for_broker,
)
from core.settings import load_settings
from schemas.registry import codec_for
from streams.exchange.agent import ExchangeAgent
from streams.exchange.pseudonym import load_keys

log = logging.getLogger("streams.exchange")


def ensure_exchange_topics(bootstrap: str, partitions: int, names: Sequence[str]) -> None:
    """Create the exchange's topics if missing (the broker may not auto-create them)."""
    create_missing_topics(bootstrap, [NewTopic(n, partitions, 1) for n in sorted(set(names))])


def main() -> int:
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    ex = settings.exchange
    kafka = settings.kafka
    try:
        if not ex.our_partner_id:
            raise FieldstreamError(
                "set exchange.our_partner_id (FIELDSTREAM_EXCHANGE__OUR_PARTNER_ID): the name "
                "partners' agreements give us"
            )
        keys = load_keys(ex.keys_file)
        wait_for_broker(kafka.bootstrap_servers)
        ensure_topics(kafka)
        ensure = partial(ensure_exchange_topics, kafka.bootstrap_servers, kafka.partitions)
        agent = ExchangeAgent(
            consumer_config(
                kafka,
                ex.group_id,
                fetch_wait_ms=ex.fetch_wait_ms,
                session_timeout_s=ex.session_timeout_s,
            ),
            producer_config(kafka),
            ex,
            enriched_topic=kafka.topics.enriched,
            bulk_topic=kafka.topics.enriched_bulk,
            dlq_topic=kafka.topics.dlq,
            suppressions_topic=kafka.topics.suppressions,
            agreements_path=ex.agreements_file,
            keys=keys,
            codec=codec_for(kafka.schema_registry_url),
            on_new_topics=ensure,
        )
        ensure(agent.topics())
    except FieldstreamError as exc:
        log.error("the exchange agent cannot start: %s", exc)
        return 2

    def on_stop(sig: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", sig)
        agent.stop()

    def on_hup(sig: int, frame: FrameType | None) -> None:
        log.info("SIGHUP: reloading the agreements")
        agent.reload_requested.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    log.info(
        "sharing as %s with %d partners (%d agreements)",
        ex.our_partner_id,
        len(agent.agreements.partners()),
        len(agent.agreements.agreements),
    )
    try:
        agent.run()
    except FieldstreamError as exc:
        log.error("the exchange agent stopped: %s", exc)
        return 1
    log.info("stopped; totals %s", agent.totals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
