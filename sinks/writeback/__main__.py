"""``python -m sinks.writeback``: the write-back to VAN (docs/sources.md)."""

from __future__ import annotations

import logging
import sys

from core.errors import FieldstreamError
from core.settings import load_settings
from sinks.writeback.service import serve


def main() -> int:
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its lines name people in URLs
    try:
        return serve(settings)
    except FieldstreamError as exc:
        logging.getLogger("sinks.writeback").error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
