"""Builders of the two items an adapter can give besides a contact attempt (see
:mod:`producers.tools.base`): person signals and volunteer shifts, in the standard's JSON form.

- :func:`person_signal`: a PersonSignal (activist code applied or removed, tag added or
  removed, opt-in, opt-out). Never an attempt.
- :func:`volunteer_shift`: one state of a volunteer's shift sign-up (VolunteerShift). Never a
  contact.

``event_id`` and ``received_at`` are left out, as for contacts: the intake sets them
(:class:`schemas.recordjson.RecordJson`).
"""

from __future__ import annotations

import re
from typing import Any

from producers.tools.base import AdapterContext, Item, Shift, Signal

# A contact attempt's result that is an opt-out -> the channel it opts out of.
OPT_OUT_RESULTS: dict[str, str] = {"do_not_text": "text", "do_not_call": "phone"}


def person_signal(
    ctx: AdapterContext,
    *,
    source_event_id: str,
    occurred_at: str,
    kind: str,
    raw: str,
    person: dict[str, str] | None = None,
    phone: str | None = None,
    channel: str | None = None,
    code: str | None = None,
    campaign_id: str | None = None,
    contact_source_event_id: str | None = None,
) -> Signal:
    """A PersonSignal of the source ``ctx`` names; None-valued optionals left out."""
    return Signal(
        _signal_record(
            ctx.source_system,
            ctx.org_id,
            source_event_id=source_event_id,
            occurred_at=occurred_at,
            kind=kind,
            raw=raw,
            person=person,
            phone=phone,
            channel=channel,
            code=code,
            campaign_id=campaign_id,
            contact_source_event_id=contact_source_event_id,
        )
    )


def _signal_record(
    source_system: str,
    org_id: str,
    *,
    source_event_id: str,
    occurred_at: str,
    kind: str,
    raw: str,
    person: dict[str, str] | None,
    **optional: Any,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "source_system": source_system,
        "source_event_id": source_event_id,
        "org_id": org_id,
        "occurred_at": occurred_at,
        "person": {k: v for k, v in (person or {}).items() if v},
        "kind": kind,
        "raw": raw,
    }
    record.update({k: v for k, v in optional.items() if v is not None})
    return record


def volunteer_shift(
    ctx: AdapterContext,
    *,
    source_event_id: str,
    campaign_id: str,
    shift_id: str,
    person: dict[str, str],
    event_type: str,
    status: str,
    status_raw: str,
    status_at: str,
    volunteer_event_id: str | None = None,
    team_id: str | None = None,
    shift_start: str | None = None,
    shift_end: str | None = None,
) -> Shift:
    """A VolunteerShift in the standard's JSON form; None-valued optionals left out."""
    record: dict[str, Any] = {
        "source_system": ctx.source_system,
        "source_event_id": source_event_id,
        "org_id": ctx.org_id,
        "campaign_id": campaign_id,
        "shift_id": shift_id,
        "person": {k: v for k, v in person.items() if v},
        "event_type": event_type,
        "status": status,
        "status_raw": status_raw,
        "status_at": status_at,
    }
    optional = {
        "volunteer_event_id": volunteer_event_id,
        "team_id": team_id,
        "shift_start": shift_start,
        "shift_end": shift_end,
    }
    record.update({k: v for k, v in optional.items() if v is not None})
    return Shift(record)


def opt_out_of(contact: dict[str, Any]) -> Signal | None:
    """The opt-out a contact attempt carries (``opt_out`` true), as a PersonSignal of the same
    source and org, or None.

    The attempt stays an attempt (the call or text happened); the opt-out is also a fact about
    the person, kept on its own so it survives whatever happens to the attempt later (the
    stream may refuse it, for example for an unknown campaign). The channel is the one the
    result names (do_not_text: text, do_not_call: phone), else the contact's channel.
    """
    if not isinstance(contact, dict) or contact.get("opt_out") is not True:
        return None
    channel = OPT_OUT_RESULTS.get(str(contact.get("result")), str(contact.get("channel")))
    source_event_id = str(contact.get("source_event_id"))
    return Signal(
        _signal_record(
            str(contact.get("source_system")),
            str(contact.get("org_id")),
            source_event_id=f"{source_event_id}:opt_out:{channel}",
            occurred_at=str(contact.get("occurred_at")),
            kind="opt_out",
            raw=str(contact.get("result_raw") or contact.get("result")),
            person=dict(contact.get("person") or {}),
            channel=channel,
            campaign_id=contact.get("campaign_id"),
            contact_source_event_id=source_event_id,
        )
    )


def with_opt_outs(items: list[Item]) -> list[Item]:
    """``items``, plus an opt-out signal for every attempt with ``opt_out`` whose channel no
    opt-out signal of the same items already covers (an adapter may give its own, with the
    phone number)."""
    given = {
        item.record.get("channel")
        for item in items
        if isinstance(item, Signal) and item.record.get("kind") == "opt_out"
    }
    derived: list[Item] = []
    for item in items:
        signal = opt_out_of(item) if isinstance(item, dict) else None
        if signal is not None and signal.record["channel"] not in given:
            given.add(signal.record["channel"])
            derived.append(signal)
    return [*items, *derived] if derived else items


def is_consent(item: Item) -> bool:
    """Whether ``item`` is an opt-in or opt-out signal: a compliance fact, stored even when
    the rest of its request is refused."""
    return isinstance(item, Signal) and item.record.get("kind") in ("opt_in", "opt_out")


_NOT_DIGIT = re.compile(r"\D")


def e164(number: Any, dialing_prefix: Any = "1") -> str | None:
    """``number`` as an E.164 phone number, or None when it cannot be one.

    A number written with ``+`` keeps its country code; otherwise ``dialing_prefix`` (VAN's
    ``dialingPrefix``; 1, North America, by default; None for numbers written with their
    country code, as CallHub does) is put in front unless the digits already start with it and
    are longer than a national number (10 digits).
    """
    if not isinstance(number, str | int) or isinstance(number, bool):
        return None
    text = str(number).strip()
    digits = _NOT_DIGIT.sub("", text)
    prefix = _NOT_DIGIT.sub("", str(dialing_prefix or ""))
    if not text.startswith("+") and prefix and not (digits.startswith(prefix) and len(digits) > 10):
        digits = prefix + digits
    if not 8 <= len(digits) <= 15 or digits.startswith("0"):
        return None
    return "+" + digits
