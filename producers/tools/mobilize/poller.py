"""Mobilize attendances (event sign-ups) -> canonical events, polled with ``updated_since``.

Mobilize has no webhooks for attendances; the poller calls
``GET {base}/organizations/{org}/attendances?updated_since=<epoch s>`` with
``Authorization: Bearer <token>`` and follows ``next`` until it is null (documented in
github.com/mobilizeamerica/api README, "List organization attendances", "Paging",
"Authentication"; the base URL there is events.mobilizeamerica.io/api/v1, today's is
api.mobilize.us/v1). An Attendance has ``id, created_date, modified_date, person{id,...},
event{id, event_type, ...}, timeslot{id, start_date, end_date}, status (REGISTERED |
CANCELLED | CONFIRMED), attended (bool | null)``.

The standard has no channel for volunteer shifts. Decision (an open question for the data
standard): an attendance becomes an event only once it is final, on the channel its event
type works (CANVASS -> door, PHONE_BANK -> phone, TEXT_BANK -> text; ``options.channels`` may
add others; an unlisted type -> Unmapped), with result canvassed (attended), not_home (did
not attend; "other" on text, where not_home is not a result) or refused (cancelled). An
attendance with ``attended`` null and not cancelled is not final: nothing is emitted, and it
is picked up again when Mobilize updates it. The person is the Mobilize person id in
``person.vendor_id`` as ``mobilize:<id>`` (Mobilize has no voter-file id).
source_event_id = the attendance id; the high-water mark (largest ``modified_date`` acked)
lives in the checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from core.errors import BrokerError, ConfigError, InputError
from core.settings import KafkaSettings, MobilizeSettings
from producers.importers import checkpoint as cp
from producers.importers.runner import ImportSummary, Row, run_rows
from producers.tools.base import (
    AdapterContext,
    Item,
    PayloadError,
    Unmapped,
    canonical,
    optional,
    require,
    timestamp,
)
from schemas.rules import RESULTS_BY_CHANNEL

SOURCE_SYSTEM = "mobilize"
CHANNEL_MAP: dict[str, str] = {"CANVASS": "door", "PHONE_BANK": "phone", "TEXT_BANK": "text"}
CONTACT_TYPE_MAP: dict[str, str] = {"door": "walk", "phone": "phone", "text": "p2p_sms"}
# outcome of an attendance (our word for attended/status) -> canonical result
RESULT_MAP: dict[str, str] = {
    "attended": "canvassed",
    "no_show": "not_home",
    "cancelled": "refused",
}
STATUSES = ("REGISTERED", "CANCELLED", "CONFIRMED")


def adapt(attendance: dict[str, Any], ctx: AdapterContext) -> list[Item]:
    """One Attendance object -> zero or one canonical event, or an Unmapped."""
    if not isinstance(attendance, dict):
        raise PayloadError("attendance", "must be an object")
    att_id = optional(attendance, "id", int)
    status = require(attendance, "status")
    if status not in STATUSES:
        raise PayloadError("status", f"must be one of {', '.join(STATUSES)}, got {status[:20]!r}")
    attended = optional(attendance, "attended", bool)
    person_id = require(attendance, "person.id", int)
    event_type = require(attendance, "event.event_type")
    when = optional(attendance, "timeslot.start_date", int) or require(
        attendance, "modified_date", int
    )
    occurred_at = timestamp(when, "timeslot.start_date")
    if attended is None and status != "CANCELLED":
        return []  # not final yet; Mobilize will update it (and updated_since brings it back)
    if att_id is None:
        return [
            Unmapped(
                "no_attendance_id",
                f"a {event_type} attendance has no id (Mobilize omits it for an independent "
                "org viewing a coordinated org's event): it cannot be imported idempotently",
                None,
                ctx.campaign_id,
            )
        ]
    source_event_id = str(att_id)
    channels = {**CHANNEL_MAP, **(ctx.options.get("channels") or {})}
    channel = channels.get(event_type)
    if channel not in RESULTS_BY_CHANNEL:
        return [
            Unmapped(
                "unmapped_event_type",
                f"Mobilize event type {event_type[:40]!r} (attendance {source_event_id}) has no "
                "channel: add it to the source's options.channels (door, phone or text)",
                source_event_id,
                ctx.campaign_id,
            )
        ]
    outcome = "attended" if attended else "no_show" if attended is False else "cancelled"
    result = RESULT_MAP[outcome]
    if result not in RESULTS_BY_CHANNEL[channel]:
        result = "other"
    event = canonical(
        ctx,
        source_event_id=source_event_id,
        campaign_id=ctx.campaign(),
        channel=channel,
        occurred_at=occurred_at,
        person={"vendor_id": f"mobilize:{person_id}"},
        result=result,
        result_raw=f"{status}/{outcome}",
        contact_type=CONTACT_TYPE_MAP[channel],
        input_method="api",
        list_id=_event_ref(attendance),
    )
    return [event]


def _event_ref(attendance: dict[str, Any]) -> str | None:
    event_id = optional(attendance, "event.id", int)
    return f"mobilize-event:{event_id}" if event_id is not None else None


def fetch_attendances(
    client: httpx.Client, settings: MobilizeSettings, updated_since: int
) -> Iterator[dict[str, Any]]:
    """Every attendance modified since ``updated_since`` (epoch s), following ``next``."""
    if not settings.organization_id:
        raise ConfigError("mobilize.organization_id is not set")
    token = settings.api_token.get_secret_value()
    if not token:
        raise ConfigError("mobilize.api_token is not set")
    base = settings.base_url.rstrip("/")
    url: str | None = f"{base}/organizations/{settings.organization_id}/attendances"
    params: dict[str, Any] | None = {"updated_since": updated_since, "per_page": settings.per_page}
    headers = {"Authorization": f"Bearer {token}"}
    while url:
        try:
            response = client.get(url, params=params, headers=headers, timeout=settings.timeout_s)
        except httpx.HTTPError as exc:
            raise BrokerError(f"Mobilize did not answer: {exc}") from exc
        if response.status_code != 200:
            raise InputError(
                f"Mobilize answered {response.status_code} for organization "
                f"{settings.organization_id}: {response.text[:200]}"
                + (" (check mobilize.api_token)" if response.status_code in (401, 403) else "")
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise InputError(f"Mobilize sent a page that is not JSON: {exc}") from exc
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise InputError(f"Mobilize page has no data array: {str(body)[:200]}")
        yield from body["data"]
        url, params = body.get("next"), None  # ``next`` carries the query string


def poll_attendances(
    settings: MobilizeSettings,
    kafka: KafkaSettings,
    *,
    org_id: str,
    campaign_id: str,
    checkpoint_path: Path,
    options: dict[str, Any] | None = None,
    restart: bool = False,
    client: httpx.Client | None = None,
    progress: bool = False,
    clock: Callable[[], float] = time.time,
) -> ImportSummary:
    """One poll: fetch attendances updated since the checkpoint's mark, produce, advance it.

    The mark moves only after Kafka acked every event of the poll; a poll cut short leaves it
    where it was, and the next poll re-reads those attendances (same event ids, deduped).
    """
    source = f"mobilize:{settings.organization_id}"
    state = cp.Checkpoint(source=source) if restart else cp.load(checkpoint_path, source)
    since = int(state.state.get("updated_since", 0))
    ctx = AdapterContext(
        source_id=source,
        org_id=org_id,
        source_system=SOURCE_SYSTEM,
        campaign_id=campaign_id,
        options=dict(options or {}),
    )
    high = since
    own = client is None
    http = client or httpx.Client()

    def rows() -> Iterator[Row]:
        nonlocal high
        for n, attendance in enumerate(fetch_attendances(http, settings, since), start=1):
            modified = attendance.get("modified_date") if isinstance(attendance, dict) else None
            if isinstance(modified, int) and not isinstance(modified, bool):
                high = max(high, modified)
            yield n, attendance

    try:
        summary = run_rows(
            rows(), adapt, ctx, kafka, source=source, checkpoint_path=None, state=state,
            progress=progress, clock=clock,
        )  # fmt: skip
    finally:
        if own:
            http.close()
    state.state["updated_since"] = high
    state.line, state.complete = 0, True
    cp.save(checkpoint_path, state)
    return summary
