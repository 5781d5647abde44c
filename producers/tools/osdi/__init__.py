"""OSDI: canvasses and the record-canvass helper, as Action Network, NGP VAN's OSDI bridge and
OSDI clients (Spoke's, canvassing apps) post them, to ``/osdi/{source}/...``."""

from producers.tools.base import Tool
from producers.tools.osdi import adapter, route

TOOL = Tool(
    name="osdi",
    title="OSDI",
    route=route.osdi_route,
    result_map={"(empty or missing)": "canvassed", "success": "canvassed", "not-home": "not_home"},
    result_keys="OSDI status_code",
    result_doc=adapter.__doc__ or "",
    readmit=route.readmit,
)
