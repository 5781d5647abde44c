"""What a VAN canvass-response body says about the person, beside any contact attempt.

The same body :mod:`producers.adapters.van` reads as an attempt can carry person signals:

- ``responses`` of type ``ActivistCode`` with ``action`` Apply or Remove (default Apply):
  activist_code_applied / activist_code_removed, named through the source's code map
  (``activist_codes``; the VAN id when the map has no name). With
  ``omitActivistCodeContactHistory`` and no result, VAN writes no contact history: the body
  is no attempt, only these signals.
- ``canvassContext.phone.smsOptInStatus``: ``O`` is an opt-out of texts, ``I`` an opt-in
  (``U``, unknown, says nothing), for that phone number (``dialingPrefix`` + ``phoneNumber``,
  kept as E.164). Spoke's ngpvan-optout message handler sends exactly this, with a result
  code of the committee's own (``resultCodeId: 205``) and no contact type.
- a ``resultCodeId`` the source's map marks ``opt_out`` (Do Not Call, Do Not Text): an opt-out
  of calls or texts. One opt-out per channel per body.

An explicit opt-out is a compliance fact, kept whatever else about the body fails: this reader
is tolerant. It reads only the fields it needs and skips what it cannot read (the attempt's
adapter names those problems), so an unknown result code, a missing contact type or a
malformed survey response never loses the opt-out. It needs only the person in the path and
a time: ``dateCanvassed`` when it reads as one, else the gateway's receive time.

``source_event_id`` is a digest of (person, the body's time, kind, channel or code): a
retried identical body keeps its ids.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from core.errors import ConfigError
from producers.tools.base import AdapterContext, PayloadError, Signal, digits, timestamp
from producers.tools.records import OPT_OUT_RESULTS, e164, person_signal
from producers.tools.van import adapter as van
from producers.tools.van.adapter import MAX_ID_DIGITS
from schemas.van_codes import VanCodes

SMS_OPT_IN_STATUS = {"O": "opt_out", "I": "opt_in"}  # U (unknown) says nothing


def signals(
    payload: Any,
    ctx: AdapterContext,
    *,
    id_type: str,
    person_id: str,
    received_at: str | None = None,
) -> list[Signal]:
    """The person signals of one VAN canvass-response body; never raises for the body."""
    if not isinstance(payload, dict):
        return []
    try:
        person = van._person(id_type, person_id, ctx)
    except PayloadError:
        return []  # no person: the attempt's adapter refuses the request, naming it
    context = payload.get("canvassContext")
    context = context if isinstance(context, dict) else {}
    when = _time(context.get("dateCanvassed"), received_at, ctx)
    if when is None:
        return []
    occurred_at, time_key = when
    codes = ctx.options.get("codes")
    codes = codes if isinstance(codes, VanCodes) else van.DEFAULT_CODES
    campaign = ctx.campaign_id

    def signal(kind: str, raw: str, key: str, **extra: Any) -> Signal:
        digest = _digest([id_type.strip().lower(), person_id.strip(), time_key, kind, key])
        return person_signal(
            ctx,
            source_event_id=f"van-sig-{digest}",
            occurred_at=occurred_at,
            kind=kind,
            raw=raw,
            person=person,
            campaign_id=campaign,
            **extra,
        )

    out: list[Signal] = []
    opt_outs: dict[str, Signal] = {}
    phone = context.get("phone")
    phone = phone if isinstance(phone, dict) else {}
    status = phone.get("smsOptInStatus")
    kind = SMS_OPT_IN_STATUS.get(status.strip().upper()) if isinstance(status, str) else None
    if kind is not None:
        number = e164(phone.get("phoneNumber"), phone.get("dialingPrefix") or "1")
        made = signal(kind, f"smsOptInStatus {status}", "text", channel="text", phone=number)
        if kind == "opt_out":
            opt_outs["text"] = made
        else:
            out.append(made)
    code = codes.result_codes.get(_int(payload.get("resultCodeId")) or -1)
    if code is not None and code.opt_out and code.result in OPT_OUT_RESULTS:
        channel = OPT_OUT_RESULTS[code.result]
        if channel not in opt_outs:
            raw = f"resultCodeId {payload['resultCodeId']} ({code.name})"
            opt_outs[channel] = signal("opt_out", raw, channel, channel=channel)
    out.extend(opt_outs.values())
    responses = payload.get("responses")
    for response in responses if isinstance(responses, list) else []:
        found = _activist_code(response)
        if found is None:
            continue
        ident, action = found
        kind = "activist_code_applied" if action == "apply" else "activist_code_removed"
        name = codes.activist_codes.get(ident, str(ident))
        out.append(signal(kind, str(ident), str(ident), code=name))
    return out


def _time(
    date_canvassed: Any, received_at: str | None, ctx: AdapterContext
) -> tuple[str, str] | None:
    """(occurred_at, the time part of the ids), as the attempt's adapter times the body, but
    falling back to the receive time when dateCanvassed does not read as a time."""
    if date_canvassed is not None:
        try:
            at = timestamp(date_canvassed, "dateCanvassed", assume_tz=van._zone(ctx))
        except (PayloadError, ConfigError):  # a bad zone option is the attempt's to report
            at = None
        if at is not None:
            return at, at
    if received_at is None:
        return None
    try:
        at = timestamp(received_at, "received_at")
    except PayloadError:
        return None
    return at, "received:" + at[:10]


def _activist_code(response: Any) -> tuple[int, str] | None:
    """(activist code id, apply | remove) of an ActivistCode response, else None."""
    if not isinstance(response, dict):
        return None
    if str(response.get("type", "")).strip().lower() != "activistcode":
        return None
    ident = _int(response.get("activistCodeId"))
    action = response.get("action") or "Apply"
    action = action.strip().lower() if isinstance(action, str) else ""
    if ident is None or action not in ("apply", "remove"):
        return None
    return ident, action


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 10**MAX_ID_DIGITS else None
    if isinstance(value, str) and digits(value.strip()) and len(value.strip()) <= MAX_ID_DIGITS:
        return int(value)
    return None


def _digest(key: list[Any]) -> str:
    return hashlib.sha256(json.dumps(key, separators=(",", ":")).encode()).hexdigest()[:40]
