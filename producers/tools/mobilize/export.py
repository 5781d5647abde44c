"""A saved Mobilize API export -> volunteer shifts (``fieldstream import mobilize --file``).

The file holds attendances as the API returned them: one page (``{"count", "next",
"previous", "data": [...]}``), a JSON array of pages or of attendances, or JSON Lines of either
(:func:`producers.tools.mobilize.shifts.parse_export`). Each attendance goes through the same
adapter as the poller's; the import is checkpointed by the attendance's position in the file
(the checkpoint in the data directory: ``fieldstream import`` passes it), and re-running it
adds nothing (the same attendance state keeps its id).
"""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.settings import KafkaSettings
from producers.importers import checkpoint as cp
from producers.importers.runner import ImportSummary, Row, import_context, import_spec, run_rows
from producers.tools.base import PayloadError
from producers.tools.mobilize.shifts import SOURCE_SYSTEM, adapt, parse_export


def read_export(path: Path) -> list[Row]:
    """The numbered attendances of the export at ``path``; InputError naming what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the Mobilize export {path}: {exc}") from exc
    try:
        return list(enumerate(parse_export(text), start=1))
    except PayloadError as exc:
        raise InputError(f"{path.name} is not a Mobilize API export: {exc}") from None


def import_export(
    path: Path,
    kafka: KafkaSettings,
    *,
    org_id: str,
    campaign_id: str,
    checkpoint_path: Path | None = None,
    restart: bool = False,
    progress: bool = False,
) -> ImportSummary:
    """Import the shifts (and SMS opt-ins/outs) of a saved Mobilize API export."""
    rows = read_export(path)
    source = cp.import_name([path])
    spec = import_spec(
        "mobilize",
        "mobilize-file",
        source,
        source_system=SOURCE_SYSTEM,
        org_id=org_id,
        campaign_id=campaign_id,
        files=[path],
    )
    return run_rows(
        rows,
        adapt,
        import_context(spec),
        kafka,
        source=source,
        checkpoint_path=checkpoint_path,
        spec=spec,
        restart=restart,
        measure=None,
        progress=progress,
    )
