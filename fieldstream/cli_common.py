"""What every ``fieldstream`` command shares: settings read once, with logging set up."""

from __future__ import annotations

import logging

from core.settings import Settings, load_settings


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    for noisy in ("httpx", "httpcore"):  # one line per request would drown the board
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cli_settings() -> Settings:
    settings = load_settings()
    _setup_logging(settings)
    return settings
