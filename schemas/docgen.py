"""Generate the data dictionary (docs/data-standard.md) from the .avsc files.

The .avsc files are the source of truth; this page is never edited by hand. A test checks that
the committed page equals what this module generates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.codec import AVRO_DIR

HEADER = """# The fieldstream data standard

Generated from `schemas/avro/*.avsc` by `fieldstream docs`; do not edit by hand.

Every field tool's payload is turned into a **ContactEvent** at the gateway. The stream
adds voter-file demographics (**Voter**) to make an **EnrichedContact**; anything it refuses
becomes a **DeadLetter** with the reason. What is not a contact attempt has its own records:
a **PersonSignal** (an activist code or tag applied or removed, an opt-in or opt-out, on
`person.signals`) and a **VolunteerShift** (one state of a volunteer's shift sign-up, on
`volunteer.shifts`); neither is ever counted as a contact. On Kafka each record is Avro:
single-object encoding (`C3 01` + CRC-64-AVRO fingerprint) on the embedded default, the
Confluent wire format with a schema registry in production.

Input is bounded: a string field takes at most the characters its type says, an array at most
its items, integers their Avro range, and timestamps fall between 2000-01-01 and the time the
event was received plus the gateway's `max_future_s`; anything else is refused with a 4xx
naming the field.
"""


def _type_name(t: Any) -> str:
    if isinstance(t, str):
        return t.rsplit(".", 1)[-1]
    if isinstance(t, list):
        names = [_type_name(x) for x in t if x != "null"]
        optional = "null" in t
        return " | ".join(names) + (" (optional)" if optional else "")
    if isinstance(t, dict):
        kind = t["type"]
        if "logicalType" in t:
            return f"{kind} ({t['logicalType']})"
        if kind == "array":
            return f"array of {_type_name(t['items'])}"
        if kind in ("record", "enum", "fixed"):
            return str(t["name"])
        return _type_name(kind)
    return str(t)


def _bounds(field: dict[str, Any]) -> str:
    """A field's limits (``maxItems``, ``maxLength``: enforced on input, schemas/jsonconv.py)."""
    limits = []
    if "maxItems" in field:
        limits.append(f"at most {field['maxItems']} items")
    if "maxLength" in field:
        each = " each" if "maxItems" in field else ""
        limits.append(f"at most {field['maxLength']} characters{each}")
    return ", " + ", ".join(limits) if limits else ""


def _collect(schema: dict[str, Any], out: dict[str, dict[str, Any]]) -> None:
    """Every named record/enum defined inline in ``schema``, in order of appearance."""
    if schema.get("type") in ("record", "enum") and schema["name"] not in out:
        out[schema["name"]] = schema
    if schema.get("type") == "record":
        for f in schema["fields"]:
            for t in f["type"] if isinstance(f["type"], list) else [f["type"]]:
                if isinstance(t, dict):
                    _collect(t, out)
                    if t.get("type") == "array" and isinstance(t["items"], dict):
                        _collect(t["items"], out)


def render(avro_dir: Path = AVRO_DIR) -> str:
    named: dict[str, dict[str, Any]] = {}
    for path in sorted(avro_dir.glob("*.avsc")):
        _collect(json.loads(path.read_text()), named)
    parts = [HEADER]
    records = [s for s in named.values() if s["type"] == "record"]
    enums = [s for s in named.values() if s["type"] == "enum"]
    for rec in records:
        parts.append(f"\n## {rec['name']}\n\n{rec.get('doc', '')}\n")
        parts.append("| field | type | default | meaning |\n|---|---|---|---|")
        for f in rec["fields"]:
            default = json.dumps(f["default"]) if "default" in f else "required"
            doc = f.get("doc", "").replace("|", "\\|")
            kind = _type_name(f["type"]) + _bounds(f)
            parts.append(f"| `{f['name']}` | {kind} | {default} | {doc} |")
    parts.append("\n## Enumerations\n")
    for enum in enums:
        doc = f" {enum['doc']}" if enum.get("doc") else ""
        symbols = ", ".join(f"`{s}`" for s in enum["symbols"])
        parts.append(f"- **{enum['name']}**:{doc} {symbols}")
    return "\n".join(parts) + "\n"


def write_data_dictionary(out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(), encoding="utf-8")
