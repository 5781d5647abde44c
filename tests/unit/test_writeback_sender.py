"""The write-back's sender against the VAN stand-in: once each, polite, and honest when unsure."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from sinks.writeback.ledger import Ledger, NewEntry
from sinks.writeback.pacing import KeyPacer
from sinks.writeback.sender import Sender, Target
from tests.fakes.van_api import Action, VanStandIn, running

KEY = "11111111-2222-3333-4444-555555555555"
DOOR = {"canvassContext": {"contactTypeId": 2, "inputTypeId": 11}, "resultCodeId": 1}


@pytest.fixture
def van() -> Iterator[VanStandIn]:
    with running(VanStandIn(app_name="app", api_keys=frozenset({KEY}))) as v:
        yield v


def entries(n: int, mode: int = 1) -> list[NewEntry]:
    return [
        NewEntry(
            event_id=f"e{i}", org_id="org", source="van", campaign_id="c", received_at=0.0,
            person=str(1000 + i), mode=mode, body=json.dumps(DOOR),
        )
        for i in range(n)
    ]  # fmt: skip


def send(van: VanStandIn, ledger: Ledger, *, timeout: float = 2.0, rate: float = 50) -> None:
    async def go() -> None:
        pacer = KeyPacer(rate, 4, backoff_base_s=0.05, backoff_max_s=0.2)
        target = Target.build(f"{van.url}/v4", "app", SecretStr(KEY), pacer)
        async with httpx.AsyncClient(timeout=timeout) as client:
            await Sender(ledger, {"org": target}, client, idle_s=0.01).drain()

    asyncio.run(go())


def states(ledger: Ledger) -> dict[str, str]:
    return {e.event_id: e.state for e in ledger.entries()}


def test_each_contact_is_posted_once_with_its_body_and_mode(
    van: VanStandIn, tmp_path: Path
) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.add(entries(5, mode=0))
    send(van, ledger)
    assert sorted(a.person for a in van.recorded()) == [str(1000 + i) for i in range(5)]
    assert all(a.body == DOOR and a.mode == 0 for a in van.recorded())
    assert set(states(ledger).values()) == {"posted"}
    assert {e.van_status for e in ledger.entries()} == {204}
    send(van, ledger)  # nothing left to do: nothing posted again
    assert len(van.recorded()) == 5


def test_429_and_5xx_are_retried_after_the_pause(van: VanStandIn, tmp_path: Path) -> None:
    van.script(
        Action("error", status=429, retry_after=1),
        Action("error", status=500),
        Action("error", status=503),
    )
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.add(entries(3))
    send(van, ledger)
    assert set(states(ledger).values()) == {"posted"}
    assert sorted(a.person for a in van.recorded()) == ["1000", "1001", "1002"]
    assert sorted(van.statuses()) == [204, 204, 204, 429, 500, 503]


def test_a_timeout_is_uncertain_never_retried(van: VanStandIn, tmp_path: Path) -> None:
    van.script(Action("slow", delay=1.5))
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.add(entries(1))
    send(van, ledger, timeout=0.3)
    [entry] = ledger.entries()
    assert (entry.state, entry.error_code) == ("uncertain", "timeout")
    send(van, ledger)
    assert len(van.recorded()) == 1  # VAN had it; fieldstream did not post it again


@pytest.mark.parametrize("accept", [True, False])
def test_a_dropped_connection_is_uncertain(van: VanStandIn, tmp_path: Path, accept: bool) -> None:
    van.script(Action("drop", accept=accept))
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.add(entries(1))
    send(van, ledger)
    assert ledger.entries()[0].state == "uncertain"
    assert len(van.recorded()) == (1 if accept else 0)


def test_a_400_is_rejected_with_vans_error(van: VanStandIn, tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    bad = {"resultCodeId": 14, "responses": [{"type": "ActivistCode", "activistCodeId": 4482459}]}
    ledger.add([NewEntry("e0", "org", "van", "c", 0.0, person="1", mode=1, body=json.dumps(bad))])
    send(van, ledger)
    [entry] = ledger.entries()
    assert (entry.state, entry.van_status, entry.error_code, entry.rejected_by) == (
        "rejected",
        400,
        "INVALID_PARAMETER",
        "van",
    )
    assert "resultCodeId" in (entry.error_text or "")


def test_van_down_keeps_contacts_pending(tmp_path: Path) -> None:
    with running(VanStandIn(app_name="app", api_keys=frozenset({KEY}))) as van:
        url = van.url
    down = VanStandIn(app_name="app", api_keys=frozenset({KEY}))
    down.url = url  # nothing listens there any more
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.add(entries(2))

    async def go() -> None:
        target = Target.build(f"{url}/v4", "app", SecretStr(KEY), KeyPacer(50, 2))
        async with httpx.AsyncClient(timeout=1) as client:
            sender = Sender(ledger, {"org": target}, client, idle_s=0.01)
            stop = asyncio.Event()
            task = asyncio.create_task(sender.run(stop))
            await asyncio.sleep(0.5)
            stop.set()
            await task

    asyncio.run(go())
    assert set(states(ledger).values()) == {"pending"}
    assert {e.error_code for e in ledger.entries()} == {"connect_failed"}


def test_the_rate_limit_keeps_under_vans_own(tmp_path: Path) -> None:
    with running(VanStandIn(app_name="app", api_keys=frozenset({KEY}), rate_limit=5)) as van:
        ledger = Ledger(tmp_path / "ledger.sqlite")
        ledger.add(entries(8))
        send(van, ledger, rate=4)
        assert 429 not in van.statuses()
        assert len(van.recorded()) == 8
