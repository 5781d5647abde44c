"""VAN's Pipeline (sync) tables read together: each contact with its survey responses and the
activist codes applied in it, as one row for the export adapter (producers/tools/van/export.py).

A VAN sync (TMC/Civis "VAN sync", VAN's changed-entities exports) gives a committee's contact
history as separate tables joined by ``ContactsContactID``. The columns (sources in
tests/data/van_export/SOURCES.md):

- contacts (``contactscontacts``, changed entities "ContactHistory"): ``contactscontactid,
  vanid, resultid, datecanvassed, contacttypeid, inputtypeid, committeeid, canvassedby, ...``;
- survey responses (``contactssurveyresponses``, "ContactsSurveyResponses"):
  ``contactssurveyresponseid, vanid, contactscontactid, surveyquestionid, surveyresponseid,
  datecanvassed, contacttypeid, inputtypeid, committeeid, canvassedby, ...``;
- activist codes (``contactsactivistcodes``, "ContactsActivistCodes"):
  ``contactsactivistcodeid, vanid, activistcodeid, contactscontactid, datecanvassed,
  contacttypeid, inputtypeid, committeeid, ...``; the changed-entities export adds
  ``ChangeTypeID`` (1 created, 3 deleted) and ``IsDeleted``.

Each file's table is told by its columns. Survey responses and activist codes are read into
memory first, by contact (memory grows with those two tables, not with the contacts table),
then every contacts row becomes one group ``{"contact": row, "responses": [...],
"activist_codes": [...]}`` numbered by its line. Responses whose contact is not in the files
given are a contact of their own (VAN: survey responses imply "Canvassed"): one group per
contact id, numbered after the last contacts line, in the order the responses file first
names them. Rows that name no contact (a code or answer applied to a person outside any
contact) are not attempts: they are counted in the summary and not imported.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError
from producers.importers.runner import Row, read_csv

ALIASES = {  # normalised column name -> the name the adapters read
    "myvvanid": "vanid",
    "vfvanid": "vanid",
    "datetimecanvassed": "datecanvassed",
}
CONTACTS, RESPONSES, CODES = "contacts", "survey responses", "activist codes"


def normalise(row: dict[str, Any]) -> dict[str, str]:
    """Column names lower case without ``_`` or spaces; empty cells dropped."""
    out: dict[str, str] = {}
    for key, value in row.items():
        name = normalised_name(key)
        text = "" if value is None else str(value).strip()
        if text and text.upper() != "NULL":
            out[name] = text
    return out


def normalised_name(column: str) -> str:
    name = column.lower().replace("_", "").replace(" ", "")
    return ALIASES.get(name, name)


def table_of(columns: list[str]) -> str:
    """Which Pipeline table a file is, by its columns."""
    names = {normalised_name(c) for c in columns}
    if "contactssurveyresponseid" in names or {"surveyquestionid", "surveyresponseid"} <= names:
        return RESPONSES
    if "contactsactivistcodeid" in names or "activistcodeid" in names:
        return CODES
    return CONTACTS


def is_group(row: dict[str, Any]) -> bool:
    """Whether an import row is a group of Pipeline rows (rather than one contacts row)."""
    return isinstance(row.get("responses"), list) and "contact" in row


def deleted(row: dict[str, str]) -> bool:
    """A changed-entities activist code row that records a removal, not an application."""
    return row.get("changetypeid") == "3" or row.get("isdeleted", "").lower() in ("1", "true")


@dataclass
class PipelineExport:
    """The groups of the Pipeline tables at ``paths`` (see the module doc), each with the
    number the checkpoint resumes by; :meth:`progress` counts contacts read."""

    paths: list[Path]
    tables: dict[str, Path] = field(default_factory=dict)
    without_contact: dict[str, int] = field(default_factory=dict)
    removed_codes: int = 0
    _done: int = 0

    def __post_init__(self) -> None:
        for path in self.paths:
            table = table_of(_header(path))
            if table in self.tables:
                raise InputError(
                    f"{path.name} and {self.tables[table].name} are both VAN {table} tables: "
                    "import one of each table at a time"
                )
            self.tables[table] = path

    def progress(self) -> tuple[int, int]:
        return self._done, 0

    def notes(self) -> list[str]:
        """What was read but not imported, for the summary."""
        out = [
            f"{n} {table} rows name no contact (applied outside any contact: not attempts, "
            "not imported)"
            for table, n in sorted(self.without_contact.items())
            if n
        ]
        if self.removed_codes:
            out.append(f"{self.removed_codes} activist code removals (not applied codes) skipped")
        return out

    def _by_contact(self, table: str) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        path = self.tables.get(table)
        if path is None:
            return grouped
        for _line, row in read_csv(path):
            r = normalise(row)
            if table == CODES and deleted(r):
                self.removed_codes += 1
                continue
            contact = r.get("contactscontactid")
            if contact is None:
                self.without_contact[table] = self.without_contact.get(table, 0) + 1
                continue
            grouped.setdefault(contact.removesuffix(".0"), []).append(row)
        return grouped

    def __iter__(self) -> Iterator[Row]:
        responses, codes = self._by_contact(RESPONSES), self._by_contact(CODES)
        last = 0
        contacts = self.tables.get(CONTACTS)
        if contacts is not None:
            for line, row in read_csv(contacts):
                contact = normalise(row).get("contactscontactid", "").removesuffix(".0")
                group = {
                    "contact": row,
                    "responses": responses.pop(contact, []),
                    "activist_codes": codes.pop(contact, []),
                }
                last = line
                self._done += 1
                yield line, group
        for n, (contact, rows) in enumerate(responses.items(), start=last + 1):
            self._done += 1
            yield n, {"contact": None, "responses": rows, "activist_codes": codes.pop(contact, [])}
        if codes:
            self.without_contact[f"{CODES} (of contacts not in these files)"] = sum(
                len(rows) for rows in codes.values()
            )


def _header(path: Path) -> list[str]:
    """The column names of the CSV at ``path``."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            return next(csv.reader(f), [])
    except FileNotFoundError:
        raise InputError(f"input file {path} does not exist") from None
