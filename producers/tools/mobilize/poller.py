"""Mobilize attendances, polled with ``updated_since``: volunteer shifts, never contacts.

Mobilize has no webhooks for attendances; the poller calls
``GET {base}/organizations/{org}/attendances?updated_since=<epoch s>`` with
``Authorization: Bearer <token>`` and follows ``next`` until it is null (documented in
github.com/mobilizeamerica/api README, "List organization attendances", "Paging",
"Authentication"; the base URL there is events.mobilizeamerica.io/api/v1, today's is
api.mobilize.us/v1, the default of the setting ``FIELDSTREAM_MOBILIZE__BASE_URL``). Each
attendance goes through :func:`producers.tools.mobilize.shifts.adapt` (a shift state, and the
volunteer's SMS opt-in or opt-out). The high-water mark (largest ``modified_date`` read) lives
in the checkpoint.
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
from producers.importers.runner import ImportSummary, Row, import_context, import_spec, run_rows
from producers.tools.mobilize.shifts import SOURCE_SYSTEM, adapt


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


def poll_name(settings: MobilizeSettings) -> str:
    """The import name of the poll of one Mobilize organization (its checkpoint's name)."""
    return f"mobilize-{settings.organization_id}"


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

    The mark moves only after Kafka acked every record of the poll; a poll cut short leaves it
    where it was, and the next poll re-reads those attendances (same ids: nothing doubles).
    """
    source = poll_name(settings)
    state = cp.Checkpoint(source=source) if restart else cp.load(checkpoint_path, source)
    since = int(state.state.get("updated_since", 0))
    spec = import_spec(
        "mobilize",
        "mobilize-api",
        source,
        source_system=SOURCE_SYSTEM,
        org_id=org_id,
        campaign_id=campaign_id,
        options=options,
    )
    ctx = import_context(spec)
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
            spec=spec, rejects_path=cp.rejects_path(checkpoint_path), progress=progress,
            clock=clock,
        )  # fmt: skip
    finally:
        if own:
            http.close()
    state.state["updated_since"] = high
    state.line, state.complete = 0, True
    cp.save(checkpoint_path, state)
    return summary
