"""Dead letters sealed at rest give back exactly what was sealed: a tool's JSON as text, a
stream's Avro event byte for byte (a replay decodes it again)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigError
from core.sealing import PREFIX, Sealer, new_key

SEALER = Sealer([new_key()])


@given(st.binary())
def test_bytes_open_as_they_were_sealed(raw: bytes) -> None:
    sealed = SEALER.seal(raw)
    assert sealed.startswith(PREFIX)
    assert SEALER.open_bytes(sealed) == raw
    assert SEALER.open_bytes(sealed.encode()) == raw  # as base64Encode(original) brings it


@given(st.text())
def test_text_opens_as_text(text: str) -> None:
    assert SEALER.open(SEALER.seal(text)) == text


def test_avro_bytes_that_are_not_utf8_survive() -> None:
    raw = b"\x00\x02\xff\xfe\x80binary"
    assert SEALER.open_bytes(SEALER.seal(raw)) == raw


def test_sealing_twice_and_plain_values() -> None:
    once = SEALER.seal("x")
    assert SEALER.seal(once) == once and SEALER.seal(once.encode()) == once
    assert SEALER.open_bytes(b'{"plain": 1}') == b'{"plain": 1}'  # stored before sealing


def test_another_key_cannot_open() -> None:
    with pytest.raises(ConfigError, match="no dead-letter key"):
        Sealer([new_key()]).open_bytes(SEALER.seal(b"secret"))
