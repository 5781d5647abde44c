"""Config files that take effect while a service runs.

:class:`WatchedFile` re-reads a file when its modification time or size changes (checked
when the service asks, or on SIGHUP), validates it with the file's loader first and keeps
the previous value when the new one does not load: a broken edit is logged and refused,
never half applied. A file that names other files (sources.yaml names each VAN source's
codes file) lists them with ``also``: a change to any of them reloads the whole value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Generic, TypeVar

from core.errors import ConfigError

log = logging.getLogger(__name__)

T = TypeVar("T")
Stamp = tuple[tuple[str, float, int] | tuple[str], ...]


def _stamp(paths: Iterable[Path]) -> Stamp:
    out: list[tuple[str, float, int] | tuple[str]] = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            out.append((str(path),))
            continue
        out.append((str(path), st.st_mtime, st.st_size))
    return tuple(out)


class WatchedFile(Generic[T]):
    """The value of a config file (and of the files it names), reloaded when one changes."""

    def __init__(
        self,
        path: Path,
        load: Callable[[Path], T],
        what: str,
        also: Callable[[T], Iterable[Path]] | None = None,
    ) -> None:
        self.path, self.load, self.what, self.also = path, load, what, also
        self._stamp = self._stamp_now(None)
        self.value: T = load(path)  # the first load must succeed: the service cannot start
        self._stamp = self._stamp_now(self.value)

    def _stamp_now(self, value: T | None) -> Stamp:
        named = list(self.also(value)) if self.also is not None and value is not None else []
        return _stamp([self.path, *named])

    def refresh(self, force: bool = False) -> bool:
        """Reload if the file (or a file it names) changed, or always with ``force`` (SIGHUP);
        True when a new value took effect."""
        stamp = self._stamp_now(self.value)
        if stamp == self._stamp and not force:
            return False
        try:
            value = self.load(self.path)
        except ConfigError as exc:
            self._stamp = stamp  # not again until the file changes once more
            log.error("%s: refused the edit, keeping the previous version: %s", self.what, exc)
            return False
        self.value = value
        self._stamp = self._stamp_now(value)
        log.info("%s reloaded from %s", self.what, self.path)
        return True
