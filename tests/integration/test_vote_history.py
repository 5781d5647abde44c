"""load-vote-history on real chDB: presets, Parquet, per-election reloads, refused loads unseen."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from core.errors import InputError
from sinks.migrate import migrate
from sinks.remote import DirectAccess
from sinks.store import LockedStore, open_store
from sinks.vote_history import load_vote_history
from sinks.vote_history_mapping import load_history_mapping, parse_history_mapping

pytestmark = pytest.mark.integration

DATA = Path(__file__).parents[1] / "data" / "vote_history"
G2024, P2024, G2022 = dt.date(2024, 11, 5), dt.date(2024, 3, 5), dt.date(2022, 11, 8)


@pytest.fixture
def store(chdb_dsn: str) -> Iterator[DirectAccess]:
    locked = LockedStore(open_store(chdb_dsn))
    try:
        migrate(locked.client)
        yield DirectAccess(locked)
    finally:
        locked.close()


def current(store: DirectAccess) -> set[tuple[str, str, dt.date]]:
    rows = store.query("SELECT state, voter_id, election_date FROM vote_history_current")[1]
    return {(r[0], r[1], r[2]) for r in rows}


def test_nc_history_loads_one_row_per_voter_and_election(store: DirectAccess) -> None:
    progress: list[tuple[int, int | None]] = []
    summary = load_vote_history(
        store, DATA / "nc_ncvhis.txt", load_history_mapping(None, "nc"),
        on_progress=lambda done, total: progress.append((done, total)),
    )  # fmt: skip
    assert summary.rows_read == 7
    assert current(store) == {
        ("NC", "AA0000101", G2024), ("NC", "AA0000101", P2024), ("NC", "AA0000102", G2024),
        ("NC", "BB0000201", G2022), ("NC", "BB0000201", G2024), ("NC", "BB0000202", G2022),
    }  # fmt: skip
    # the duplicate of AA0000102 (two labels of one method) is one vote
    assert store.query(
        "SELECT count() FROM vote_history_current WHERE election_date = '2024-11-05'"
    )[1] == [[3]]
    elections = store.query(
        "SELECT election_date, voters FROM vote_history_elections ORDER BY election_date"
    )
    assert elections[1] == [[G2022, 2], [P2024, 1], [G2024, 4]]  # rows loaded, before merging
    methods = store.query(
        "SELECT method, election_name FROM vote_history_current WHERE voter_id = 'AA0000101' "
        "ORDER BY election_date"
    )[1]
    assert methods == [
        ["IN-PERSON", "03/05/2024 PRIMARY"],
        ["ABSENTEE ONESTOP", "11/05/2024 GENERAL"],
    ]
    assert progress and progress[-1][0] == progress[-1][1]  # bytes read reach the file's size


def test_l2_wide_history_and_election_filter(store: DirectAccess) -> None:
    mapping = load_history_mapping(None, "l2")
    load_vote_history(store, DATA / "l2_votehistory.tab", mapping, elections=[G2024])
    assert current(store) == {("NC", "LALNC0000101", G2024), ("NC", "LALNC0000102", G2024),
                              ("NC", "LALNC0000201", G2024)}  # fmt: skip
    load_vote_history(store, DATA / "l2_votehistory.tab", mapping)  # all three elections
    got = current(store)
    assert ("NC", "LALNC0000202", G2022) in got and ("NC", "LALNC0000101", P2024) in got
    assert len(got) == 6
    assert not any(v == "LALNC0000303" for _, v, _ in got)  # voted in nothing


def test_parquet_gives_the_same_votes(store: DirectAccess, tmp_path: Path) -> None:
    table = pacsv.read_csv(
        DATA / "nc_ncvhis.txt",
        parse_options=pacsv.ParseOptions(delimiter="\t"),
        convert_options=pacsv.ConvertOptions(column_types={"county_id": pa.int64()}),
    )
    pq.write_table(table, tmp_path / "ncvhis.parquet")
    load_vote_history(store, tmp_path / "ncvhis.parquet", load_history_mapping(None, "nc"))
    assert len(current(store)) == 6


def test_a_reload_replaces_only_the_elections_it_holds(store: DirectAccess, tmp_path: Path) -> None:
    mapping = load_history_mapping(None, "nc")
    load_vote_history(store, DATA / "nc_ncvhis.txt", mapping)
    # a corrected 2024 general: AA0000102 did not vote after all
    lines = (DATA / "nc_ncvhis.txt").read_text(encoding="latin-1").splitlines()
    fixed = [lines[0], *(ln for ln in lines[1:] if "AA0000102" not in ln and "11/05/2024" in ln)]
    path = tmp_path / "corrected.txt"
    path.write_text("\n".join(fixed) + "\n", encoding="latin-1")
    load_vote_history(store, path, mapping)
    got = current(store)
    assert ("NC", "AA0000102", G2024) not in got
    assert ("NC", "BB0000202", G2022) in got  # 2022 still from the first load
    store.store.client.command("OPTIMIZE TABLE vote_history FINAL")
    assert current(store) == got


def test_bad_rows_refuse_the_load_and_it_never_becomes_current(
    store: DirectAccess, tmp_path: Path
) -> None:
    mapping = load_history_mapping(None, "nc")
    lines = (DATA / "nc_ncvhis.txt").read_text(encoding="latin-1").splitlines()
    bad = [*lines, lines[1].replace('"11/05/2024"', '"someday"'), lines[1].replace("AA0000101", "")]
    path = tmp_path / "bad.txt"
    path.write_text("\n".join(bad) + "\n", encoding="latin-1")
    with pytest.raises(InputError) as err:
        load_vote_history(store, path, mapping)
    message = str(err.value)
    assert "2 bad rows" in message
    assert "row 8: an election date the mapping cannot read" in message
    assert "row 9: no voter id" in message
    assert "AA0000101" not in message and "someday" not in message  # no personal data echoed
    assert current(store) == set()
    summary = load_vote_history(store, path, mapping, skip_bad=True)
    assert summary.skipped == 2 and len(current(store)) == 6


def test_missing_columns_and_patterns_are_named(store: DirectAccess, tmp_path: Path) -> None:
    shutil.copy(DATA / "l2_votehistory.tab", tmp_path / "x.tab")
    with pytest.raises(Exception, match="no column"):
        load_vote_history(store, tmp_path / "x.tab", load_history_mapping(None, "nc"))
    nothing = parse_history_mapping(
        {"shape": "wide", "voter_id": "LALVOTERID", "default_state": "NC",
         "elections": {"pattern": r"^Muni_(?P<year>\d{4})_(?P<month>\d\d)_(?P<day>\d\d)$"}},
        "muni.yaml",
    )  # fmt: skip
    with pytest.raises(Exception, match="no column of the file matches"):
        load_vote_history(store, tmp_path / "x.tab", nothing)
