"""Which adapter and signature scheme each tool uses, and each source's adapter context."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fieldstream.config import SourceConfig
from producers.adapters import callhub, hustle, signatures, spoke
from producers.adapters.base import AdapterContext, Item
from producers.adapters.van_codes import load_codes

Adapter = Callable[[Any, AdapterContext], list[Item]]
Verifier = Callable[[Mapping[str, str], bytes, Sequence[str], float], None]

# tools posting to /v1/hooks/{source_id}; VAN has its own route (gateway/van_route.py)
ADAPTERS: dict[str, Adapter] = {
    "spoke": spoke.adapt,
    "callhub": callhub.adapt,
    "hustle": hustle.adapt,
}

# top-level payload keys never kept in a dead letter's bytes: Spoke posts its organization's
# settings (Twilio account ids, encrypted tokens) with every question response
SCRUB: dict[str, tuple[str, ...]] = {"spoke": ("organization",)}

# tools with a signature scheme of their own, used when the source has signing_secrets
VERIFIERS: dict[str, Verifier] = {
    name.removeprefix("verify_"): getattr(signatures, name)
    for name in dir(signatures)
    if name.startswith("verify_")
}


def context_for(source: SourceConfig) -> AdapterContext:
    """The adapter context of a source (VAN sources get their code map, loaded once)."""
    options = dict(source.options)
    if source.tool == "van":
        options["codes"] = load_codes(source.codes_file)
    return AdapterContext(
        source_id=source.id,
        org_id=source.org_id,
        source_system=source.tool,
        campaign_id=source.campaign_id,
        state=source.state,
        options=options,
    )
