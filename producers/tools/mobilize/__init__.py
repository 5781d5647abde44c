"""Mobilize: attendances (volunteers' shift sign-ups), read from its API by a poller or from a
saved export (``fieldstream import mobilize``). They are volunteer shifts, never contacts."""

from producers.tools.base import Tool
from producers.tools.mobilize import shifts

TOOL = Tool(
    name="mobilize",
    title="Mobilize (importer)",
    result_doc=(
        "Mobilize attendances are volunteer shifts (table volunteer_shifts), never voter "
        "contacts: they give no result code. Their states: attended when `attended` is true; "
        "no_show when it is false (cancelled when the RSVP was CANCELLED); otherwise the RSVP "
        "(registered, confirmed, cancelled)."
    ),
    import_adapter=lambda _spec: shifts.adapt,
)
