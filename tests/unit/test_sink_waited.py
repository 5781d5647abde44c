"""sinks.consumer.waited: how long a message was ready before the sink read it."""

from __future__ import annotations

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE, Message

from sinks.consumer import waited


def message(ms: int, kind: int = TIMESTAMP_CREATE_TIME) -> Message:
    return Message(topic="contacts.enriched", partition=0, offset=7, timestamp=(kind, ms))


def test_a_message_that_arrived_during_a_slow_insert_waited_since_its_timestamp() -> None:
    now = 1_000_000.0
    assert waited(message(int((now - 0.3) * 1000)), now, away=0.9) == pytest.approx(0.3)


def test_it_never_waited_longer_than_the_loop_was_away() -> None:
    # a producer whose clock runs 10 s behind cannot make every batch due at once
    now = 1_000_000.0
    assert waited(message(int((now - 10) * 1000)), now, away=0.05) == 0.05


def test_no_timestamp_or_one_from_the_future_means_it_did_not_wait() -> None:
    now = 1_000_000.0
    assert waited(message(0, TIMESTAMP_NOT_AVAILABLE), now, away=1.0) == 0.0
    assert waited(message(int((now + 5) * 1000)), now, away=1.0) == 0.0
