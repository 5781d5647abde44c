"""Every adapter as a pure function, driven by hypothesis with mutated and generated payloads:
each either gives items or raises PayloadError (the declared refusal, a 4xx at the gateway),
and whatever it gives goes through the intake hallway (conversion to the standard, Avro
encoding) without an exception: a problem is named, never raised. The mutations start from the
tools' own published payloads (tests/data, with their SOURCES.md) and put in what senders get
wrong or attackers try: huge and negative numbers, Unicode digits, long strings, wrong types,
missing keys, times off the calendar."""

from __future__ import annotations

import copy
import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import SourceConfig
from producers.intake import Hallway, Origin
from producers.tools import registry
from producers.tools.base import AdapterContext, Item, PayloadError
from producers.tools.mobilize.poller import adapt as mobilize_adapt
from producers.tools.osdi import adapter as osdi
from producers.tools.van import export as van_export
from producers.tools.van.adapter import adapt as van_adapt
from schemas import AvroCodec

DATA = Path(__file__).resolve().parents[1] / "data"
RECEIVED = "2026-11-04T15:00:00+00:00"
RECEIVED_MS = 1_793_808_000_000
HALLWAY = Hallway(AvroCodec())

NASTY = st.one_of(
    st.sampled_from(
        [
            2**64,
            2**64 - 1,
            2**63,
            -(2**63) - 1,
            10**20,
            1e20,
            1e308,
            -1,
            0,
            2**31,
            True,
            None,
            "",
            " ",
            "²",
            "١٢٣",
            "9" * 10_000,
            "x" * 600_000,
            "\x00",
            "1e20",
            "NaN",
            "-5",
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59Z",
            "1850-01-01T00:00:00Z",
            "2026-11-24T15:04:05Z",
            [],
            {},
            [1, "a"],
            {"a": None},
        ]
    ),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=50),
)


# what a CSV reader gives: text cells, None for a missing one
CELL = st.one_of(
    st.sampled_from(["", "²", "١٢٣", "9" * 10_000, "99999999999999999999", "1e20", "-5",
                     "0001-01-01T00:00:00", "9999-12-31T23:59:59", "13/45/2026", "2.5"]),
    st.text(max_size=30),
    st.none(),
)  # fmt: skip
ROW = st.dictionaries(st.text(max_size=20), CELL, max_size=10)


def source(tool: str, **extra: Any) -> SourceConfig:
    base = {"id": tool, "org_id": "org-a", "secrets": ["x"], "tool": tool, "campaign_id": "gotv"}
    return SourceConfig.model_validate({**base, **extra})


VAN = source("van", codes_file=str(DATA / "van" / "codes_committee.yaml"), state="PA")
CONTEXTS = {
    "callhub": registry.context_for(
        source("callhub", options={"person_fields": {"van_id": "contact"}})
    ),
    "spoke": registry.context_for(source("spoke")),
    "hustle": registry.context_for(source("hustle")),
    "van": registry.context_for(VAN),
    "mobilize": AdapterContext("mobilize", "org-a", "mobilize", "gotv"),
    "osdi": registry.context_for(source("osdi")),
}


def fixtures(tool: str) -> list[Any]:
    return [json.loads(p.read_text()) for p in sorted((DATA / tool).glob("*.json"))]


def van_rows() -> list[dict[str, Any]]:
    with (DATA / "van_export" / "contact_history.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def mobilize_items() -> list[Any]:
    return [a for page in fixtures("mobilize") for a in page["data"]]


ADAPTERS: dict[str, tuple[Callable[[Any], list[Item]], list[Any]]] = {
    "callhub": (lambda p: _hook("callhub", p), fixtures("callhub")),
    "spoke": (lambda p: _hook("spoke", p), fixtures("spoke")),
    "hustle": (lambda p: _hook("hustle", p), fixtures("hustle")),
    "van": (
        lambda p: van_adapt(
            p, CONTEXTS["van"], id_type="vanid", person_id="1000001", received_at=RECEIVED
        ),
        fixtures("van"),
    ),
    "van-export": (
        lambda r: van_export.adapter(CONTEXTS["van"].options["codes"])(r, CONTEXTS["van"]),
        van_rows(),
    ),
    "mobilize": (lambda a: mobilize_adapt(a, CONTEXTS["mobilize"]), mobilize_items()),
    "osdi-helper": (
        lambda p: osdi.adapt_helper(p, CONTEXTS["osdi"], person_id="123", received_at=RECEIVED),
        fixtures("osdi"),
    ),
    "osdi-canvass": (
        lambda p: osdi.adapt_canvass(p, CONTEXTS["osdi"], effort_id="9", received_at=RECEIVED),
        fixtures("osdi"),
    ),
}


def _hook(tool: str, payload: Any) -> list[Item]:
    hook = registry.tool(tool).hook
    assert hook is not None
    ctx = CONTEXTS[tool]
    return hook(payload, AdapterContext(**{**ctx.__dict__, "received_at": RECEIVED}))


def paths(obj: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += paths(v, (*here, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += paths(v, (*here, i))
    return out


ROWS = {"van-export"}  # adapters of CSV rows: their values are text cells


@st.composite
def mutated(draw: st.DrawFn, originals: list[Any], values: st.SearchStrategy[Any] = NASTY) -> Any:
    payload = copy.deepcopy(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(1, 4))):
        where = paths(payload)
        path = draw(st.sampled_from(where))
        if not path:
            continue
        parent = payload
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()) and draw(st.booleans()):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = copy.deepcopy(draw(values))
    return payload


def only_declared_errors(adapt: Callable[[Any], list[Item]], payload: Any) -> None:
    try:
        items = adapt(payload)
    except PayloadError:
        return
    origin = Origin("fuzz", "org-a", "fuzz", "gateway:fuzz")
    HALLWAY.prepare(items, origin, b"{}", RECEIVED_MS)  # problems are named, never raised


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.data())
def test_mutated_payloads_give_items_or_a_payload_error(data: st.DataObject) -> None:
    tool = data.draw(st.sampled_from(sorted(ADAPTERS)))
    adapt, originals = ADAPTERS[tool]
    only_declared_errors(adapt, data.draw(mutated(originals, CELL if tool in ROWS else NASTY)))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                  max_size=4),
    max_leaves=12,
)  # fmt: skip


@FUZZ
@given(st.data())
def test_generated_payloads_give_items_or_a_payload_error(data: st.DataObject) -> None:
    tool = data.draw(st.sampled_from(sorted(ADAPTERS)))
    only_declared_errors(ADAPTERS[tool][0], data.draw(ROW if tool in ROWS else JSON))


@FUZZ
@given(st.data())
def test_canonical_events_give_a_record_or_named_problems(data: st.DataObject) -> None:
    event = {
        "source_system": "tool", "source_event_id": "1", "org_id": "org-a", "campaign_id": "gotv",
        "channel": "phone", "occurred_at": "2026-11-04T14:04:05+00:00",
        "person": {"voter_id": "V1", "state": "PA"}, "result": "busy", "result_raw": "18",
        "responses": [{"question_id": "q", "answer": "a", "support_level": 1}],
        "activist_codes": ["vol"],
    }  # fmt: skip
    payload = data.draw(mutated([event]))
    record, problems = HALLWAY.converter.convert(payload, RECEIVED_MS)
    assert (record is None) == bool(problems)
    if record is not None:
        HALLWAY.codec.encode("org.fieldstream.v1.ContactEvent", record)
