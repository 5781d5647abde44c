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

The Pipeline's survey-response and activist-code tables come in with the contacts they belong
to (:mod:`producers.tools.van.pipeline` groups them): a contact's survey responses become its
``responses`` (an unknown question is held, the contact counted, as on VAN's API route) and its
activist codes its ``activist_codes``.

Sources of each column are in tests/data/van_export/SOURCES.md. Codes are a committee's own:
the maps come from schemas/van_codes.py (``load_codes(path|None)``, defaults in
schemas/van_default_codes.yaml), shared with the VAN webhook adapter. A result or contact type
id not in the map -> Unmapped; source_event_id = the ContactsContactID, so a re-export of the same
attempt gets the same event id. Naive times are read in ``ctx.options["timezone"]`` (default
UTC: the VAN documentation found does not say which zone the export uses).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from core.settings import KafkaSettings
from producers.importers import checkpoint as cp
from producers.importers.runner import (
    ImportSummary,
    import_context,
    import_csv,
    import_spec,
    run_rows,
)
from producers.tools.base import (
    AdapterContext,
    Item,
    PayloadError,
    Problems,
    Unmapped,
    canonical,
    digits,
    strptime_utc,
    timestamp,
    zone,
)
from producers.tools.van import pipeline
from producers.tools.van.adapter import (
    DEFAULT_CODES,
    MAX_ID_DIGITS,
    activist_names,
    survey_answers,
)
from schemas.van_codes import ResultCode, VanCodes, load_codes

SOURCE_SYSTEM = "van"
US_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y")

# tool value -> canonical code, from the shared VAN defaults (for generated docs)
RESULT_MAP: dict[str, str] = {str(k): v.result for k, v in DEFAULT_CODES.result_codes.items()}
CHANNEL_MAP: dict[str, str] = {str(k): v.channel for k, v in DEFAULT_CODES.contact_types.items()}


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
    """One contact-history row, or one group of Pipeline rows (a contact with its survey
    responses and activist codes: :mod:`producers.tools.van.pipeline`), -> one canonical
    event, an Unmapped, or a PayloadError naming every field that is wrong.

    ``options``: ctx's options as already worked out for earlier rows (see :func:`adapter`).
    """
    opts = _Options(ctx) if options is None else options
    if not pipeline.is_group(row):
        return _contact(row, ctx, codes, opts)
    responses: list[dict[str, Any]] = row["responses"]
    contact = row.get("contact")
    if contact is None and not responses:
        raise PayloadError("contact", "a group of VAN rows needs a contacts row or responses")
    # survey responses without their contacts row are a contact of their own: VAN records
    # responses only on a Canvassed contact
    items = _contact(contact or responses[0], ctx, codes, opts, implied=contact is None)
    event = items[0]
    if isinstance(event, Unmapped):
        return items  # the contact itself is unknown to the map: held whole
    assert isinstance(event, dict)
    found = Problems()
    pairs = [found.check(_answer, r) for r in responses]
    code_ids = [found.check(_int, pipeline.normalise(r), "activistcodeid", "ActivistCodeID")
                for r in row.get("activist_codes") or []]  # fmt: skip
    found.raise_any()
    if responses and event["result"] != "canvassed":
        raise PayloadError(
            "ResultID",
            f"contact {event['source_event_id']} has {len(responses)} survey response(s) but "
            f"result {event['result_raw']!r}: VAN records survey responses only on a Canvassed "
            "contact",
        )
    held: list[tuple[str, str]] = []
    answers, unmapped = survey_answers(
        [p for p in pairs if p is not None], codes, ctx.source_id, codes.where(), held
    )
    names = activist_names([c for c in code_ids if c is not None], codes)
    event = dict(event)
    if answers:
        event["responses"] = answers
    if names:
        event["activist_codes"] = names
    if not held:
        return [event]
    event["unmapped_responses"] = unmapped
    return [
        Unmapped(
            held[0][0],
            "; ".join(text for _, text in held),
            event["source_event_id"],
            event["campaign_id"],
            partial=event,
        )
    ]


def _answer(row: dict[str, Any]) -> tuple[int, int]:
    r = pipeline.normalise(row)
    found = Problems()
    question = found.check(_int, r, "surveyquestionid", "SurveyQuestionID")
    answer = found.check(_int, r, "surveyresponseid", "SurveyResponseID")
    found.raise_any()
    return int(question), int(answer)


def _contact(
    row: dict[str, Any],
    ctx: AdapterContext,
    codes: VanCodes,
    opts: _Options,
    implied: bool = False,
) -> list[Item]:
    """One contacts row (or, ``implied``, a survey-response row standing for its Canvassed
    contact) -> one canonical event or an Unmapped."""
    r = pipeline.normalise(row)
    found = Problems()
    contact_id = found.check(_int, r, "contactscontactid", "ContactsContactID")
    van_id = found.check(_int, r, "vanid", "VanID")
    occurred_at = found.check(_when, r.get("datecanvassed"), opts)
    result_id = None if implied else found.check(_int, r, "resultid", "ResultID")
    type_id = found.check(_int, r, "contacttypeid", "ContactTypeID", required=False)
    input_id = found.check(_int, r, "inputtypeid", "InputTypeID", required=False)
    found.raise_any()
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
    if implied:
        result, result_raw = ResultCode("Canvassed", "canvassed"), "Canvassed"
    else:
        code = codes.result_codes.get(result_id) if result_id is not None else None
        if code is None:
            return [
                Unmapped(
                    "unknown_result_code",
                    f"VAN result code {result_id} (contact {source_event_id}) is not in "
                    f"{codes.where()}: add it under result_codes",
                    source_event_id,
                    campaign,
                )
            ]
        result, result_raw = code, r.get("resultshortname") or str(result_id)
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
        result_raw=result_raw,
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
    paths: Path | Sequence[Path],
    kafka: KafkaSettings,
    *,
    org_id: str,
    campaign_id: str | None = None,
    codes_file: Path | None = None,
    options: dict[str, Any] | None = None,
    checkpoint_path: Path | None = None,
    partial_contacts: str = "count",
    restart: bool = False,
    stop_after: int | None = None,
    progress: bool = False,
) -> ImportSummary:
    """Import a VAN ContactHistory export or contactscontacts sync dump, with the Pipeline's
    survey-response and activist-code tables when given (CLI entry)."""
    files = [paths] if isinstance(paths, Path) else list(paths)
    name = cp.import_name(files)
    spec = import_spec(
        "van",
        "van-export",
        name,
        source_system=SOURCE_SYSTEM,
        org_id=org_id,
        campaign_id=campaign_id,
        codes_file=codes_file,
        options=options,
        files=files,
        partial_contacts=partial_contacts,
    )
    ctx = import_context(spec)
    adapt_row = adapter(load_codes(codes_file))
    export = pipeline.PipelineExport(files)
    if list(export.tables) == [pipeline.CONTACTS]:  # one contacts table: read it as it is
        return import_csv(
            files[0],
            adapt_row,
            ctx,
            kafka,
            source=name,
            checkpoint_path=checkpoint_path,
            spec=spec,
            restart=restart,
            stop_after=stop_after,
            progress=progress,
        )
    summary = run_rows(
        export, adapt_row, ctx, kafka, source=name, checkpoint_path=checkpoint_path, spec=spec,
        restart=restart, stop_after=stop_after, progress=progress,
    )  # fmt: skip
    summary.notes += export.notes()
    return summary


def replay_adapter(spec: dict[str, Any]) -> Callable[[dict[str, Any], AdapterContext], list[Item]]:
    """The row adapter of a recorded VAN import, through the codes file as it is now."""
    codes_file = spec.get("codes_file")
    return adapter(load_codes(Path(codes_file) if codes_file else None))
