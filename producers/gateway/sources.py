"""The gateway's sources, live: sources.yaml and the codes files it names, reloaded on change.

A :class:`SourceBook` is a read-only mapping of source id -> SourceConfig that every route
reads per request, with each source's adapter context (its tool's ``prepare`` run once per
load: a VAN source's codes file is read then). Built from the file, it reloads when
sources.yaml or any codes file it names changes (:meth:`refresh`, called by a timer and on
SIGHUP): the new version is validated whole first (every entry, every tool, every codes file)
and a version that does not load is refused and logged, the previous one kept. Built from a
dict (tests, embedded callers), it never changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from core.config import SourceConfig
from core.watch import WatchedFile
from producers.tools import registry
from producers.tools.base import AdapterContext


@dataclass(frozen=True)
class Loaded:
    """One version of the sources, with every source's adapter context."""

    sources: dict[str, SourceConfig]
    contexts: dict[str, AdapterContext]


def load(sources: dict[str, SourceConfig]) -> Loaded:
    """Check every source's tool and build its context (ConfigError naming what is wrong)."""
    registry.check_sources(sources)
    return Loaded(sources, {s.id: registry.context_for(s) for s in sources.values()})


def _named_files(loaded: Loaded) -> Iterable[Path]:
    return [s.codes_file for s in loaded.sources.values() if s.codes_file is not None]


class SourceBook(Mapping[str, SourceConfig]):
    """The current sources (see the module doc)."""

    def __init__(self, fixed: Loaded | None = None, watched: WatchedFile[Loaded] | None = None):
        self._fixed, self._watched = fixed, watched

    @classmethod
    def from_file(cls, path: Path) -> SourceBook:
        """sources.yaml at ``path``, reloaded when it or a codes file it names changes."""
        watched = WatchedFile(
            path, lambda p: load(registry.read_sources(p)), "sources", also=_named_files
        )
        return cls(watched=watched)

    @classmethod
    def fixed(cls, sources: Mapping[str, SourceConfig]) -> SourceBook:
        return cls(fixed=load(dict(sources)))

    @property
    def loaded(self) -> Loaded:
        if self._watched is not None:
            return self._watched.value
        assert self._fixed is not None
        return self._fixed

    def refresh(self, force: bool = False) -> bool:
        """Pick up an edit (True when a new version took effect); a bad one is refused."""
        return self._watched.refresh(force) if self._watched is not None else False

    def context(self, source_id: str) -> AdapterContext:
        return self.loaded.contexts[source_id]

    def __getitem__(self, source_id: str) -> SourceConfig:
        return self.loaded.sources[source_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.loaded.sources)

    def __len__(self) -> int:
        return len(self.loaded.sources)
