"""The voter stores (memory and RocksDB): records, exact counts, offsets kept with them, and
what a reopened RocksDB store still knows. The directory's reading of the topic is tested on
real Tansu in tests/integration/test_voter_restart.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import Settings
from schemas import VOTER, AvroCodec
from streams.voters import (
    MemoryVoterStore,
    RocksVoterStore,
    VoterDirectory,
    VoterStore,
    open_voter_store,
)

CODEC = AvroCodec()


@pytest.fixture(params=["memory", "rocksdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VoterStore]:
    s: VoterStore = (
        MemoryVoterStore() if request.param == "memory" else RocksVoterStore(tmp_path / "voters")
    )
    try:
        yield s
    finally:
        s.close()


def test_put_get_delete_len(store: VoterStore) -> None:
    assert store.get("ZZ:1") is None and len(store) == 0
    store.put("ZZ:1", b"one")
    store.put("ZZ:2", b"two")
    store.put("ZZ:1", b"uno")  # an update is not a new voter
    assert (store.get("ZZ:1"), store.get("ZZ:2"), len(store)) == (b"uno", b"two", 2)
    store.delete("ZZ:2")
    store.delete("ZZ:2")  # deleting an absent key changes nothing
    store.delete("ZZ:3")
    assert (store.get("ZZ:2"), len(store)) == (None, 1)


def test_apply_in_order_with_offsets(store: VoterStore) -> None:
    store.put("ZZ:old", b"x")
    store.apply(
        [
            ("ZZ:a", b"1"),
            ("ZZ:a", b"2"),  # updated in the same batch: one voter, the last value
            ("ZZ:b", b"1"),
            ("ZZ:b", None),  # put then deleted in the same batch
            ("ZZ:old", None),
            ("ZZ:c", None),  # tombstone of a voter never stored
            ("GA:é", b"3"),  # non-ASCII key
        ],
        {0: 7, 2: 3},
    )
    assert [store.get(k) for k in ("ZZ:a", "ZZ:b", "ZZ:old", "ZZ:c", "GA:é")] == [
        b"2",
        None,
        None,
        None,
        b"3",
    ]
    assert len(store) == 2
    store.apply([], {0: 9})  # offsets move on even when a batch changes no voter
    assert store.offsets() == {0: 9, 2: 3}


def test_reset_forgets_voters_and_offsets(store: VoterStore) -> None:
    assert store.source() == (None, None)
    store.apply([("ZZ:1", b"1"), ("ZZ:2", b"2")], {0: 2})
    store.reset("voters", "id-1")
    assert (store.get("ZZ:1"), len(store), store.offsets()) == (None, 0, {})
    assert store.source() == ("voters", "id-1")
    store.apply([("ZZ:1", b"new")], {0: 1})
    assert (store.get("ZZ:1"), len(store)) == (b"new", 1)


def test_rocks_store_reopens_with_voters_offsets_count_and_source(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "voters.rocksdb"  # parents are created
    s = RocksVoterStore(path)
    s.reset("voters.ZZ", "AbC")
    s.apply([(f"ZZ:{i}", f"v{i}".encode()) for i in range(1000)], {0: 600, 1: 400})
    s.apply([("ZZ:5", None), ("ZZ:6", b"changed")], {1: 402, 12: 1})
    s.close()

    s = RocksVoterStore(path)
    try:
        assert s.offsets() == {0: 600, 1: 402, 12: 1}  # partition 12 sorts after 1 and 2
        assert s.source() == ("voters.ZZ", "AbC")
        assert len(s) == 999
        assert (s.get("ZZ:5"), s.get("ZZ:6"), s.get("ZZ:999")) == (None, b"changed", b"v999")
    finally:
        s.close()


def test_rocks_store_is_one_process_per_directory(tmp_path: Path) -> None:
    s = RocksVoterStore(tmp_path / "voters")
    try:
        with pytest.raises(ConfigError, match="voter_store_path"):
            RocksVoterStore(tmp_path / "voters")
    finally:
        s.close()


def test_open_voter_store_follows_the_setting(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert isinstance(open_voter_store(settings.stream), MemoryVoterStore)
    settings.stream.voter_store = "rocksdb"
    rocks = open_voter_store(settings.stream)
    try:
        assert isinstance(rocks, RocksVoterStore)
        assert rocks.path == tmp_path / "stream" / "voters.rocksdb"
    finally:
        rocks.close()


def test_directory_checks_an_updated_record_again(tmp_path: Path) -> None:
    """A record is checked on its first hit; a changed value under the same key is checked
    again (only a hash of the checked bytes is kept)."""
    store = RocksVoterStore(tmp_path / "voters")
    directory = VoterDirectory({"bootstrap.servers": "127.0.0.1:1"}, "voters", CODEC, store)
    good = CODEC.encode(VOTER, {"voter_id": "1", "state": "ZZ", "updated_at": 0})
    try:
        store.put("ZZ:1", good)
        assert directory.get_bytes("ZZ:1") == good
        assert directory.get_bytes("ZZ:1") == good and directory.bad == 0
        store.put("ZZ:1", good + b"!")  # trailing bytes: not a whole Voter
        assert directory.get_bytes("ZZ:1") is None and directory.bad == 1
    finally:
        store.close()
