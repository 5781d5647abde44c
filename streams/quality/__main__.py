"""``python -m streams.quality``: run the quality agent (streams/quality/agent.py).

Reads the policy file named by the quality settings (absent: the defaults), creates the
pipeline's topics if missing, and flags shifts until SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from core.errors import FieldstreamError
from core.kafka import consumer_config, ensure_topics, producer_config, wait_for_broker
from core.settings import load_settings
from schemas.registry import codec_for
from streams.quality.agent import QualityAgent
from streams.quality.monitor import QualityMonitor
from streams.quality.policy import read_quality_file

log = logging.getLogger("streams.quality")


def main() -> int:
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    q, kafka = settings.quality, settings.kafka
    try:
        policies = read_quality_file(q.policy_file)
        wait_for_broker(kafka.bootstrap_servers)
        ensure_topics(kafka)
        agent = QualityAgent(
            consumer_config(
                kafka,
                q.group_id,
                fetch_wait_ms=q.fetch_wait_ms,
                session_timeout_s=q.session_timeout_s,
            ),
            producer_config(kafka),
            QualityMonitor(policies),
            codec_for(kafka.schema_registry_url),
            enriched_topic=kafka.topics.enriched,
            flags_topic=kafka.topics.quality_flags,
            dlq_topic=kafka.topics.dlq,
            rebuild_s=q.rebuild_hours * 3600,
            batch_max=q.batch_max,
            heartbeat=q.heartbeat_file,
        )
    except FieldstreamError as exc:
        log.error("the quality agent cannot start: %s", exc)
        return 2

    def on_stop(sig: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", sig)
        agent.stop()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    log.info("checking shifts (%d campaigns with their own policy)", len(policies.campaigns))
    try:
        agent.run()
    except FieldstreamError as exc:
        log.error("the quality agent stopped: %s", exc)
        return 1
    log.info("stopped; totals %s", agent.totals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
