"""Rules of the data standard that every stage applies the same way.

The Avro schemas say which codes exist; these say how they fit together. They live on the
floor so the gateway, the importers, the stream and the docs generator read one copy.
"""

from __future__ import annotations

# The results each channel can produce; anything else is a mapping bug in the sending tool.
RESULTS_BY_CHANNEL: dict[str, frozenset[str]] = {
    "door": frozenset(
        {
            "canvassed",
            "not_home",
            "refused",
            "moved",
            "deceased",
            "inaccessible",
            "language_barrier",
            "hostile",
            "vacant",
            "lit_drop",
            "other",
        }
    ),
    "phone": frozenset(
        {
            "canvassed",
            "not_home",
            "refused",
            "moved",
            "deceased",
            "wrong_number",
            "busy",
            "left_message",
            "disconnected",
            "language_barrier",
            "hostile",
            "do_not_call",
            "other",
        }
    ),
    "text": frozenset(
        {
            "canvassed",
            "texted",
            "refused",
            "wrong_number",
            "deliverability_error",
            "do_not_text",
            "moved",
            "deceased",
            "language_barrier",
            "hostile",
            "other",
        }
    ),
}
