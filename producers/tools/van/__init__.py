"""VAN: tools that write to VAN's API pointed at fieldstream (``POST
/v4/people/{person}/canvassResponses``), and VAN's contact-history exports
(``fieldstream import van-export``). Codes are per committee: each source's codes file."""

from typing import Any

from core.config import SourceConfig
from producers.tools.base import Tool
from producers.tools.van import adapter, export, route
from schemas.van_codes import load_codes


def _prepare(source: SourceConfig, options: dict[str, Any]) -> None:
    options["codes"] = load_codes(source.codes_file)


TOOL = Tool(
    name="van",
    title="VAN",
    route=route.van_route,
    prepare=_prepare,
    result_map=adapter.RESULT_MAP,
    result_keys="resultCodeId",
    readmit=route.readmit,
    import_adapter=export.replay_adapter,
)
