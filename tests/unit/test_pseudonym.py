"""Blind identifiers: stable under a key, different across keys and domains, not reversible."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from pathlib import Path

import pytest

import streams.exchange.pseudonym as pseudonym_module
from core.errors import ConfigError, InputError
from streams.exchange.pseudonym import (
    KeyRing,
    PersonIdKind,
    PseudonymKey,
    canvasser_pseudonym,
    load_keys,
    new_secret,
    normalise_van_id,
    normalise_voter_id,
    parse_keys,
    person_pseudonym,
    shared_event_id,
    van_pseudonym,
    voter_pseudonym,
)

UTC = dt.UTC


def key(key_id: str = "k1", secret: str = "s" * 40, start: int = 2026, end: int | None = None):
    return PseudonymKey.model_validate(
        {
            "id": key_id,
            "secret": secret,
            "valid_from": dt.date(start, 1, 1),
            "valid_until": None if end is None else dt.date(end, 1, 1),
        }
    )


K1 = key("k1", "a" * 40)
K2 = key("k2", "b" * 40)


def test_stable_under_one_key_and_across_spellings() -> None:
    p = voter_pseudonym(K1, "PA", "abc123")
    assert p == voter_pseudonym(K1, " pa ", " ABC123 ")
    assert p == voter_pseudonym(key("other-id", "a" * 40), "PA", "ABC123")  # the secret keys it
    assert len(p) == 64 and int(p, 16) >= 0
    assert van_pseudonym(K1, "00123") == van_pseudonym(K1, " 123")


def test_differs_across_keys_domains_and_from_a_plain_hash() -> None:
    p1, p2 = voter_pseudonym(K1, "PA", "123"), voter_pseudonym(K2, "PA", "123")
    assert p1 != p2
    assert p1 != hashlib.sha256(b"PA:123").hexdigest()
    assert p1 != hashlib.sha256(b"123").hexdigest()
    # same raw text in another domain (or another org for canvassers) is another pseudonym
    assert van_pseudonym(K1, "123") != voter_pseudonym(K1, "PA", "123")
    assert canvasser_pseudonym(K1, "org", "123") not in {p1, van_pseudonym(K1, "123")}
    assert canvasser_pseudonym(K1, "org-a", "c1") != canvasser_pseudonym(K1, "org-b", "c1")
    assert voter_pseudonym(K1, "PA", "123") != voter_pseudonym(K1, "OH", "123")


def test_person_pseudonym_prefers_the_state_voter_id() -> None:
    both = {"state": "PA", "voter_id": "X1", "van_id": "77"}
    assert person_pseudonym(K1, both) == (
        PersonIdKind.state_voter_id,
        voter_pseudonym(K1, "PA", "X1"),
    )
    assert person_pseudonym(K1, {"van_id": "77", "voter_id": "X1"}) == (
        PersonIdKind.van_id,
        van_pseudonym(K1, "77"),
    )
    assert person_pseudonym(K1, {"state": "PA", "van_id": "not-digits"}) is None
    assert person_pseudonym(K1, {"state_file_id": "S1", "vendor_id": "V1"}) is None


def test_normalisation_refuses_what_it_cannot_read() -> None:
    assert normalise_voter_id(" nc", "ab-12 ") == "NC:AB-12"
    assert normalise_van_id("0042") == "42"
    for bad in ("", "12a", "٣"):  # the last is an Arabic-Indic digit: not a VAN id
        with pytest.raises(InputError):
            normalise_van_id(bad)
    with pytest.raises(InputError):
        normalise_voter_id("Penn", "1")
    with pytest.raises(InputError):
        normalise_voter_id("PA", "  ")


def test_shared_event_id_is_a_stable_uuid_that_hides_ours() -> None:
    ours = "6f0c7d2e-5a51-4d8e-9a43-0b6f1d2c9e11"
    shared = shared_event_id(K1, ours)
    assert uuid.UUID(shared).version == 8
    assert shared == shared_event_id(K1, ours.upper())
    assert shared != ours and shared != shared_event_id(K2, ours)
    assert shared_event_id(K1, uuid.UUID(ours)) == shared  # type: ignore[arg-type]


def test_a_dictionary_of_every_candidate_finds_nothing_without_the_key() -> None:
    """Hash every candidate voter id (a 100,000-id state file) in each plain way an attacker
    would, and with a wrong key: no match. With the exchange's key: exactly the true one."""
    true_id = "004217"
    target = voter_pseudonym(K1, "PA", true_id)
    candidates = [f"{n:06d}" for n in range(100_000)]
    wrong = key("k1", "w" * 40)
    guesses: set[str] = set()
    for c in candidates:
        for text in (c, f"PA:{c}", f"PA{c}", f"fieldstream/v1/voter\x00PA:{c}"):
            guesses.add(hashlib.sha256(text.encode()).hexdigest())
            guesses.add(hashlib.sha3_256(text.encode()).hexdigest())
        guesses.add(voter_pseudonym(wrong, "PA", c))
        guesses.add(hmac.new(b"", f"PA:{c}".encode(), hashlib.sha256).hexdigest())
    assert target not in guesses
    found = [c for c in candidates if voter_pseudonym(K1, "PA", c) == target]
    assert found == [true_id]


def test_there_is_no_pseudonym_for_phones_or_emails() -> None:
    public = [n for n in dir(pseudonym_module) if not n.startswith("_")]
    assert not [n for n in public if "phone" in n.lower() or "email" in n.lower()]


def test_key_ring_picks_the_key_of_the_period() -> None:
    ring = KeyRing((key("k2", "b" * 40, 2027), key("k1", "a" * 40, 2026, 2027)))
    assert [k.id for k in ring.keys] == ["k1", "k2"]
    assert ring.key_at(dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC)).id == "k1"
    assert ring.key_at(dt.datetime(2027, 1, 1, tzinfo=UTC)).id == "k2"
    assert ring.key_at(dt.datetime(2040, 1, 1, tzinfo=UTC)).id == "k2"
    with pytest.raises(ConfigError, match="no pseudonym key is valid at 2025"):
        ring.key_at(dt.datetime(2025, 6, 1, tzinfo=UTC))
    assert ring.by_id("k2") is ring.keys[1] and ring.by_id("k9") is None


def test_key_ring_refuses_overlaps_and_repeats() -> None:
    with pytest.raises(ConfigError, match="keys k1 and k2 overlap"):
        KeyRing((key("k1", "a" * 40, 2026), key("k2", "b" * 40, 2027)))
    with pytest.raises(ConfigError, match="keys k1 and k2 overlap"):
        KeyRing((key("k1", "a" * 40, 2026, 2028), key("k2", "b" * 40, 2027)))
    with pytest.raises(ConfigError, match="listed twice"):
        KeyRing((key("k1", "a" * 40, 2026, 2027), key("k1", "b" * 40, 2027)))
    with pytest.raises(ConfigError, match="valid_until must be after"):
        KeyRing((key("k1", "a" * 40, 2027, 2026),))


def test_keys_file_loads_and_never_echoes_a_secret(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    s1, s2 = new_secret(), new_secret()
    assert s1 != s2 and len(s1) >= 32
    path.write_text(
        f"keys:\n  - {{id: k1, secret: '{s1}', valid_from: 2026-01-01, valid_until: 2026-07-01}}\n"
        f"  - {{id: k2, secret: '{s2}', valid_from: '2026-07-01T00:00:00Z'}}\n"
    )
    path.chmod(0o644)  # readable by every user: refused, as sources.yaml is
    with pytest.raises(ConfigError, match="chmod 600") as refused:
        load_keys(path)
    assert s1 not in str(refused.value)
    path.chmod(0o600)
    ring = load_keys(path)
    assert [k.id for k in ring.keys] == ["k1", "k2"]
    assert s1 not in repr(ring) and s1 not in str(ring.keys[0])
    short = "short-secret"
    with pytest.raises(ConfigError) as err:
        parse_keys({"keys": [{"id": "k1", "secret": short, "valid_from": "2026-01-01"}]})
    assert "keys.0.secret: Value error, a key secret needs at least 32" in str(err.value)
    assert short not in str(err.value)
    with pytest.raises(ConfigError, match=r"keys.0.valid_from"):
        parse_keys({"keys": [{"id": "k1", "secret": s1, "valid_from": "2026-01-01T00:00"}]})
    with pytest.raises(ConfigError, match="keys: List should have at least 1"):
        parse_keys({"keys": []})
    with pytest.raises(ConfigError, match="does not exist"):
        load_keys(tmp_path / "none.yaml")


def test_the_guides_key_file_example_loads() -> None:
    import re

    import yaml

    page = (Path(__file__).resolve().parents[2] / "docs" / "exchange.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", page, re.S) if "keys:" in b]
    data = yaml.safe_load(block.replace('"..."', '"' + "x" * 32 + '"'))
    ring = parse_keys(data)
    assert ring.key_at(dt.datetime(2026, 7, 1, tzinfo=UTC)).id == "k2026b"
