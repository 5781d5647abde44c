"""The progress bar the loaders and importers show on a terminal (rich), or nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Update = Callable[[str, int, int | None], None]


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Update]:
    """update(description, done, total): one bar per description, a rich bar when enabled,
    else nothing. A total of None leaves the bar's total as it was (None: no known end)."""
    if not enabled:
        yield lambda _d, _n, _t: None
        return
    # imported here: only an interactive run draws a bar
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(description: str, done: int, total: int | None) -> None:
            if description not in tasks:
                tasks[description] = bar.add_task(description, total=total)
            bar.update(tasks[description], completed=done, total=total)

        yield update
