"""How ``fieldstream dlq`` reads the store and reports a replay, and how rows are printed for
people and for programs (never cut short)."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

from fieldstream.dlq import Filters, list_sql, wait_for_store
from fieldstream.output import Format, print_rows, tsv_value
from producers.replay import HELD, PARTIAL, REFUSED, SENT, Replayed


def test_filters_quote_what_the_data_manager_typed() -> None:
    where = Filters(source="van-app", reason="it's", since=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    sql = list_sql(where, 10)
    assert "source = 'van-app'" in sql and "reason_code = 'it\\'s'" in sql
    assert "received_at >= toDateTime64('2026-11-01 00:00:00.000', 3, 'UTC')" in sql
    assert sql.endswith("LIMIT 10")


class Store:
    """held_contacts as the store answers over time: a list of answers, one per poll."""

    def __init__(self, answers: list[list[list[Any]]]) -> None:
        self.answers, self.polls = answers, 0

    def query(self, _sql: str) -> tuple[list[str], list[list[Any]]]:
        rows = self.answers[min(self.polls, len(self.answers) - 1)]
        self.polls += 1
        return ["held_key", "counted", "last_ms", "reason"], rows


STARTED = 1_000_000


def test_the_report_waits_until_every_contact_settled() -> None:
    results = [
        Replayed("a", SENT),  # lands
        Replayed("b", PARTIAL, "q 9 unknown"),  # counted, answer held
        Replayed("c", SENT),  # refused again by the stream
        Replayed("d", HELD, "r 9 unknown"),
        Replayed("e", REFUSED, "VanID: must be a whole number"),
    ]
    old = STARTED - 5
    store = Store(
        [
            [["a", 0, old, "x"], ["b", 0, old, "x"], ["c", 0, old, "x"], ["d", 0, old, "r"]],
            [["b", 1, STARTED, "q 9 unknown"], ["c", 0, old, "x"], ["d", 0, STARTED, "r 9"]],
            [["b", 1, STARTED, "q 9 unknown"], ["c", 0, STARTED + 9, "unknown_campaign"],
             ["d", 0, STARTED, "r 9"]],
        ]
    )  # fmt: skip
    report = wait_for_store(store.query, results, STARTED, 30, clock=lambda: 0.0, sleep=_no)
    assert store.polls == 3 and report.settled
    assert report.landed == ["a"]
    assert report.counted_answers_held == [("b", "q 9 unknown")]
    assert report.still_held == [("c", "unknown_campaign"), ("d", "r 9")]
    assert [r.held_key for r in report.not_sent] == ["e"]
    assert report.rows() == [
        ["landed (counted, complete)", 1],
        ["counted, survey answers still held", 1],
        ["still held back", 2],
        ["refused or not replayable", 1],
    ]


def test_the_report_stops_waiting_and_says_so() -> None:
    store = Store([[["a", 0, STARTED - 1, "x"]]])
    ticks = iter([0.0, 0.0, 5.0, 11.0, 11.0])
    report = wait_for_store(store.query, [Replayed("a", SENT)], STARTED, 10,
                            clock=lambda: next(ticks), sleep=_no)  # fmt: skip
    assert not report.settled and report.still_held == [("a", "x")]


def _no(_s: float) -> None:
    pass


def test_tsv_escapes_like_clickhouse_and_json_is_objects() -> None:
    assert tsv_value("a\tb\nc\\d") == "a\\tb\\nc\\\\d" and tsv_value(None) == "\\N"
    out = io.StringIO()
    print_rows(["k", "n"], [["a\tb", 1], [None, [1, 2]]], Format.tsv, out)
    assert out.getvalue() == "k\tn\na\\tb\t1\n\\N\t[1,2]\n"
    out = io.StringIO()
    print_rows(["k", "n"], [["x", 1]], Format.json, out)
    assert json.loads(out.getvalue()) == [{"k": "x", "n": 1}]


def test_a_table_in_a_narrow_terminal_wraps_and_never_cuts() -> None:
    long = "unknown_survey_question:" + "9" * 60
    out = io.StringIO()
    print_rows(["source", "reason"], [["van-app", long]], Format.table, out)
    text = out.getvalue()
    assert "…" not in text
    assert "9" * 60 in "".join(line.strip("│ ┃") for line in text.replace("│", "").split())


def test_piped_output_defaults_to_tsv() -> None:
    out = io.StringIO()  # not a terminal
    print_rows(["a"], [["b"]], None, out)
    assert out.getvalue() == "a\nb\n"


def test_an_empty_result_still_names_its_columns(tmp_path: Any) -> None:
    from sinks.store import LockedStore, open_store

    store = LockedStore(open_store(f"chdb:///{tmp_path / 'chdb'}"))
    try:
        assert store.query("SELECT 1 AS source, 'x' AS reason_code WHERE 0") == (
            ["source", "reason_code"],
            ["UInt8", "String"],
            [],
        )
    finally:
        store.close()
