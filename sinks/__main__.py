"""``python -m sinks``: the ClickHouse sink service (owns the chDB directory)."""

from __future__ import annotations

import logging
import sys

from core.errors import FieldstreamError
from core.settings import load_settings
from sinks.service import serve


def main() -> int:
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        return serve(settings)
    except FieldstreamError as exc:
        logging.getLogger("sinks").error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
