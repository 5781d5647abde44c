"""Mobilize: attendances, read from its API by a poller (``fieldstream import mobilize``)."""

from producers.tools.base import Tool
from producers.tools.mobilize import poller

TOOL = Tool(
    name="mobilize",
    title="Mobilize (importer)",
    result_map=poller.RESULT_MAP,
    result_keys="Mobilize attendance status",
    result_doc=poller.__doc__ or "",
)
