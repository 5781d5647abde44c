"""Spoke: its zapier-action question responses, posted to ``/v1/hooks/{source}``."""

from producers.tools.base import Tool
from producers.tools.spoke import adapter

TOOL = Tool(
    name="spoke",
    title="Spoke",
    hook=adapter.adapt,
    # Spoke posts its organization's settings (Twilio account ids, encrypted tokens) with
    # every question response: never keep them in a dead letter
    scrub=("organization",),
    result_map=adapter.RESULT_MAP,
    result_keys="kind of Spoke post",
    result_doc=adapter.__doc__ or "",
)
