"""The field tools fieldstream knows: every folder under producers/tools/ that exposes a
``TOOL`` record (producers/tools/base.py). Adding a tool is adding its folder; nothing here
lists tools by hand.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

import producers.tools as package
from core.config import SourceConfig, load_sources
from core.errors import ConfigError
from producers.tools.base import AdapterContext, Tool

CANONICAL = "canonical"


@cache
def tools() -> dict[str, Tool]:
    """Every tool record, by name (imported once, from the folders under producers/tools/)."""
    found: dict[str, Tool] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        tool = getattr(importlib.import_module(f"{package.__name__}.{info.name}"), "TOOL", None)
        if isinstance(tool, Tool):
            found[tool.name] = tool
    return found


def tool(name: str) -> Tool:
    """The record of tool ``name``; ConfigError naming the tools there are."""
    known = tools()
    if name not in known:
        raise ConfigError(f"unknown tool {name!r}; the tools are: {', '.join(sorted(known))}")
    return known[name]


def check_sources(sources: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
    """Every source names a known tool (ConfigError naming the source otherwise)."""
    known = tools()
    for source in sources.values():
        if source.tool not in known:
            raise ConfigError(
                f"source {source.id!r} names tool {source.tool!r}; the tools are: "
                + ", ".join(sorted(known))
            )
    return sources


def read_sources(path: Path) -> dict[str, SourceConfig]:
    """sources.yaml, read and checked against the tools there are."""
    return check_sources(load_sources(path))


def context_for(source: SourceConfig) -> AdapterContext:
    """The adapter context of a source (its tool's ``prepare`` fills options once)."""
    options = dict(source.options)
    prepare = tool(source.tool).prepare
    if prepare is not None:
        prepare(source, options)
    return AdapterContext(
        source_id=source.id,
        org_id=source.org_id,
        source_system=source.tool,
        campaign_id=source.campaign_id,
        state=source.state,
        options=options,
    )
