"""Config files that take effect while a service runs.

:class:`WatchedFile` re-reads a file when its modification time or size changes (checked
when the service asks, or on SIGHUP), validates it with the file's loader first and keeps
the previous value when the new one does not load: a broken edit is logged and refused,
never half applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from core.errors import ConfigError

log = logging.getLogger(__name__)

T = TypeVar("T")


def _stamp(path: Path) -> tuple[float, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime, st.st_size


class WatchedFile(Generic[T]):
    """The value of a config file, reloaded when the file changes."""

    def __init__(self, path: Path, load: Callable[[Path], T], what: str) -> None:
        self.path, self.load, self.what = path, load, what
        self._stamp = _stamp(path)
        self.value: T = load(path)  # the first load must succeed: the service cannot start

    def refresh(self) -> bool:
        """Reload if the file changed; True when a new value took effect."""
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            value = self.load(self.path)
        except ConfigError as exc:
            log.error("%s: keeping the previous version: %s", self.what, exc)
            return False
        self.value = value
        log.info("%s reloaded from %s", self.what, self.path)
        return True
