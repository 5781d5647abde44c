"""VAN contact history exports (one row per contact attempt) -> canonical events.

Two shapes of the same VAN table are read by one adapter, matching column names without case
or underscores:

- the changed-entities "ContactHistory" CSV (``POST /v4/changedEntityExportJobs`` with
  resourceType ContactHistory; docs.ngpvan.com/reference/changed-entities-overview), columns
  such as ``ContactsContactID, VanID, DateCanvassed, ContactTypeID, InputTypeID, ResultID,
  CommitteeID, CanvassedBy``;
- the TMC/Civis "VAN sync" tables ``contactscontacts`` (``tsm_<member>_contactscontacts_vf``
  and ``_myc``/``_mym``), all lower case: ``statecode, contactscontactid, vanid, resultid,
  committeeid, datecanvassed, inputtypeid, contacttypeid, canvassedby, teamid, ...`` (as
  documented by move-coop/dbt-ngpvan's staging model); the DNC "vansync" spelling
  (``myv_van_id, datetime_canvassed, contact_type_id, result_id``) is accepted too.

Sources of each column are in tests/data/van_export/SOURCES.md. Codes are a committee's own:
the maps come from schemas/van_codes.py (``load_codes(path|None)``, defaults in
schemas/van_default_codes.yaml), shared with the VAN webhook adapter. A result or contact type
id not in the map -> Unmapped; source_event_id = the ContactsContactID, so a re-export of the same
attempt gets the same event id. Naive times are read in ``ctx.options["timezone"]`` (default
UTC: the VAN documentation found does not say which zone the export uses).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from core.settings import KafkaSettings
from producers.importers.runner import ImportSummary, import_csv
from producers.tools.base import (
    AdapterContext,
    Item,
    PayloadError,
    Unmapped,
    canonical,
    digits,
    strptime_utc,
    timestamp,
    zone,
)
from producers.tools.van.adapter import DEFAULT_CODES, MAX_ID_DIGITS
from schemas.van_codes import VanCodes, load_codes

SOURCE_SYSTEM = "van"
ALIASES = {  # normalised column name -> the name the adapter reads
    "myvvanid": "vanid",
    "vfvanid": "vanid",
    "datetimecanvassed": "datecanvassed",
}
US_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y")

# tool value -> canonical code, from the shared VAN defaults (for generated docs)
RESULT_MAP: dict[str, str] = {str(k): v.result for k, v in DEFAULT_CODES.result_codes.items()}
CHANNEL_MAP: dict[str, str] = {str(k): v.channel for k, v in DEFAULT_CODES.contact_types.items()}


def normalise(row: dict[str, Any]) -> dict[str, str]:
    """Column names lower case without ``_`` or spaces; empty cells dropped."""
    out: dict[str, str] = {}
    for key, value in row.items():
        name = key.lower().replace("_", "").replace(" ", "")
        name = ALIASES.get(name, name)
        text = "" if value is None else str(value).strip()
        if text and text.upper() != "NULL":
            out[name] = text
    return out


class _Options:
    """What :func:`adapt` reads from ``ctx.options``, each worked out where first needed and
    then kept (so a bad timezone still fails at the first row that needs it)."""

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx

    @cached_property
    def tz(self) -> dt.tzinfo:
        """``options.timezone``: the zone of naive times (UTC when unset)."""
        name = self.ctx.options.get("timezone")
        if not name:
            return dt.UTC
        return zone(name, f"source {self.ctx.source_id}: options.timezone {name!r} is unknown")

    @cached_property
    def committee_campaigns(self) -> dict[str, str]:
        """``options.committee_campaigns``: a VAN committee id -> a campaign."""
        by_committee = self.ctx.options.get("committee_campaigns") or {}
        return {str(k): str(v) for k, v in by_committee.items()}


def adapt(
    row: dict[str, Any],
    ctx: AdapterContext,
    codes: VanCodes = DEFAULT_CODES,
    options: _Options | None = None,
) -> list[Item]:
    """One contact-history row -> one canonical event, an Unmapped, or a PayloadError.

    ``options``: ctx's options as already worked out for earlier rows (see :func:`adapter`).
    """
    opts = _Options(ctx) if options is None else options
    r = normalise(row)
    contact_id = _int(r, "contactscontactid", "ContactsContactID")
    van_id = _int(r, "vanid", "VanID")
    occurred_at = _when(r.get("datecanvassed"), opts)
    result_id = _int(r, "resultid", "ResultID")
    type_id = _int(r, "contacttypeid", "ContactTypeID", required=False)
    if type_id is None:
        type_id = codes.default_contact_type_id
    source_event_id = str(contact_id)
    committee = r.get("committeeid") or r.get("personcommitteeid")
    campaign = _campaign(ctx, committee, opts.committee_campaigns)
    contact_type = codes.contact_types.get(type_id) if type_id is not None else None
    if contact_type is None:
        return [
            Unmapped(
                "unknown_contact_type",
                f"VAN contact type {type_id} (contact {source_event_id}) is not in "
                f"{codes.where()}: add it under contact_types with a channel",
                source_event_id,
                campaign,
            )
        ]
    result = codes.result_codes.get(result_id) if result_id is not None else None
    if result is None:
        return [
            Unmapped(
                "unknown_result_code",
                f"VAN result code {result_id} (contact {source_event_id}) is not in "
                f"{codes.where()}: add it under result_codes",
                source_event_id,
                campaign,
            )
        ]
    input_id = _int(r, "inputtypeid", "InputTypeID", required=False)
    input_type = codes.input_types.get(input_id) if input_id is not None else None
    state = (r.get("statecode") or ctx.state or "").upper()
    event = canonical(
        ctx,
        source_event_id=source_event_id,
        campaign_id=campaign,
        channel=contact_type.channel,
        occurred_at=occurred_at,
        person={"van_id": str(van_id), "state": state if len(state) == 2 else ""},
        result=result.result,
        result_raw=r.get("resultshortname") or str(result_id),
        contact_type=contact_type.contact_type,
        input_method=input_type.input_method if input_type else "other",
        canvasser_id=r.get("canvassedby"),
        team_id=r.get("teamid"),
        opt_out=True if result.opt_out else None,
    )
    return [event]


def _int(r: dict[str, str], name: str, label: str, *, required: bool = True) -> int | None:
    value = r.get(name)
    if value is None:
        if required:
            raise PayloadError(label, "is missing")
        return None
    text = value[:-2] if value.endswith(".0") else value  # ids that went through a float
    if not digits(text) or len(text) > MAX_ID_DIGITS:
        raise PayloadError(
            label, f"must be a whole number of at most {MAX_ID_DIGITS} digits, got {value[:20]!r}"
        )
    return int(text)


def _when(value: str | None, opts: _Options) -> str:
    tz = opts.tz
    if value is None:
        raise PayloadError("DateCanvassed", "is missing")
    try:
        return timestamp(value, "DateCanvassed", assume_tz=tz)
    except PayloadError:
        parsed = strptime_utc(value, US_FORMATS, tz)
        if parsed is None:
            raise
        return parsed


def _campaign(ctx: AdapterContext, committee: str | None, by_committee: dict[str, str]) -> str:
    """``options.committee_campaigns`` maps a VAN committee id to a campaign; else the
    source's campaign_id."""
    if committee is not None and str(committee) in by_committee:
        return ctx.campaign(by_committee[str(committee)])
    return ctx.campaign()


def adapter(codes: VanCodes) -> Callable[[dict[str, Any], AdapterContext], list[Item]]:
    """The row adapter with a committee's code maps, in the runner's shape; it works the
    context's options out once (the runner passes one context for the whole import)."""
    opts: _Options | None = None

    def adapt_row(row: dict[str, Any], ctx: AdapterContext) -> list[Item]:
        nonlocal opts
        if opts is None or opts.ctx is not ctx:
            opts = _Options(ctx)
        return adapt(row, ctx, codes, opts)

    return adapt_row


def import_van_export(
    path: Path,
    kafka: KafkaSettings,
    *,
    org_id: str,
    campaign_id: str | None = None,
    codes_file: Path | None = None,
    options: dict[str, Any] | None = None,
    checkpoint_path: Path | None = None,
    restart: bool = False,
    stop_after: int | None = None,
    progress: bool = False,
) -> ImportSummary:
    """Import a VAN ContactHistory export or contactscontacts sync dump (CLI entry)."""
    ctx = AdapterContext(
        source_id=f"import:{path.name}",
        org_id=org_id,
        source_system=SOURCE_SYSTEM,
        campaign_id=campaign_id,
        options=dict(options or {}),
    )
    return import_csv(
        path,
        adapter(load_codes(codes_file)),
        ctx,
        kafka,
        checkpoint_path=checkpoint_path,
        restart=restart,
        stop_after=stop_after,
        progress=progress,
    )
