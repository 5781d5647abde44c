"""producers.journal: records survive the trip, a torn tail ends a segment, acknowledged means
on disk, segments rotate and close; the roof's replay puts them back in order."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.journal import (
    CLOSED,
    OPEN,
    Entry,
    Journal,
    close_orphans,
    decode,
    encode,
    read_segment,
    segments,
)

entries = st.lists(
    st.builds(
        Entry,
        topic=st.text(min_size=1, max_size=30),
        key=st.one_of(st.none(), st.binary(max_size=60)),
        value=st.binary(max_size=300),
    ),
    max_size=20,
)


@given(entries)
def test_records_survive_the_trip(batch: list[Entry]) -> None:
    assert list(decode(encode(batch))) == batch


@given(entries, st.integers(min_value=1, max_value=40))
def test_a_torn_tail_ends_the_segment_at_the_last_whole_record(
    batch: list[Entry], cut: int
) -> None:
    data = encode(batch)
    whole = list(decode(data[: max(0, len(data) - cut)]))
    assert whole == batch[: len(whole)]  # a prefix, never a damaged record
    if batch:
        assert len(whole) < len(batch)
    flipped = bytearray(data)
    if flipped:
        flipped[-1] ^= 0xFF
        assert list(decode(bytes(flipped))) == batch[:-1]


def test_append_is_on_disk_rotates_and_closes(tmp_path: Path) -> None:
    directory = tmp_path / "journal"

    async def run() -> Journal:
        journal = Journal(directory, segment_bytes=200)
        writes = [journal.append([Entry("raw", f"k{i}".encode(), b"v" * 50)]) for i in range(12)]
        await asyncio.gather(*writes)  # concurrent requests share syncs
        assert journal._synced == journal._written == 12
        return journal

    journal = asyncio.run(run())
    # every segment has a name of its own, however fast they were opened
    names = [p.name for p in segments(directory, include_open=True)]
    assert len(set(names)) == len(names) == 4
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = segments(directory, include_open=True)
    assert len(files) > 1 and files[-1].suffix == OPEN
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    journal.close()
    closed = segments(directory)
    assert all(f.suffix == CLOSED for f in closed) and len(closed) == len(files)
    keys = [e.key for f in closed for e in read_segment(f)]
    assert keys == [f"k{i}".encode() for i in range(12)]


def test_segments_of_dead_processes_are_closed(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    directory.mkdir()
    dead = directory / f"0000000000001-{2**22 + 17}-000001{OPEN}"  # no such pid
    mine = directory / f"0000000000002-{os.getpid()}-000001{OPEN}"
    dead.write_bytes(encode([Entry("raw", b"a", b"1")]))
    mine.write_bytes(b"")
    assert close_orphans(directory) == 2  # ours too: close_orphans runs before a gateway
    assert [p.suffix for p in segments(directory)] == [CLOSED, CLOSED]


def test_a_journal_that_cannot_be_written_refuses(tmp_path: Path) -> None:
    from producers.journal import JournalError

    journal = Journal(tmp_path / "journal")

    async def run() -> None:
        await journal.append([Entry("raw", b"a", b"1")])
        assert journal._fd is not None
        os.close(journal._fd)  # the disk went away under it
        await journal.append([Entry("raw", b"b", b"2")])

    with pytest.raises(JournalError, match="journal"):
        asyncio.run(run())
