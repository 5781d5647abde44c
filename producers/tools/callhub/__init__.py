"""CallHub: its ``cc.notes`` and ``sb.reply`` webhooks, posted to ``/v1/hooks/{source}``."""

from producers.tools.base import Tool
from producers.tools.callhub import adapter

TOOL = Tool(
    name="callhub",
    title="CallHub",
    hook=adapter.adapt,
    result_map=adapter.RESULT_MAP,
    result_keys="CallHub disposition or event",
    result_doc=adapter.__doc__ or "",
)
