"""Hustle: ``messageStatus-v1`` and ``consentUpdate-v1`` webhooks, HMAC-signed."""

from producers.tools.base import Tool
from producers.tools.hustle import adapter, signature

TOOL = Tool(
    name="hustle",
    title="Hustle",
    hook=adapter.adapt,
    verify=signature.verify_hustle,
    result_map=adapter.RESULT_MAP,
    result_keys="Hustle webhook event or status",
    result_doc=adapter.__doc__ or "",
    confirm_header="hustle-webhook-confirmation",
)
