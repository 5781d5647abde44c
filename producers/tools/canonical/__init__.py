"""Tools that speak the data standard itself: ``POST /v1/events`` (a bearer secret), or
``POST /v1/hooks/{source}`` signed with Standard Webhooks (producers/gateway/signing.py)."""

from producers.tools.base import Tool

TOOL = Tool(name="canonical", title="The data standard's own JSON")
