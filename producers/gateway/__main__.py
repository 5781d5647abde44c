"""``python -m producers.gateway``: run the gateway with settings from the environment."""

from __future__ import annotations

import logging

import uvicorn

from core.settings import Settings, load_settings
from producers.gateway.app import create_app
from producers.gateway.sources import SourceBook
from producers.journal import Journal
from schemas.registry import codec_for


def run(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    app = create_app(
        sources=SourceBook.from_file(settings.gateway.sources_file),
        kafka=settings.kafka,
        gateway=settings.gateway,
        van=settings.van,
        codec=codec_for(settings.kafka.schema_registry_url),
        journal=Journal(settings.gateway.journal_dir) if settings.gateway.journal else None,
    )
    uvicorn.run(
        app,
        host=settings.gateway.host,
        port=settings.gateway.port,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    run(load_settings())
