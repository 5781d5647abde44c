"""What an import says: every bad row's reason (the first few on screen, bounded), where the rest
are, and that rows were rejected."""

from __future__ import annotations

from pathlib import Path

from producers.importers.runner import MAX_LISTED, MAX_REASON, BadRow, ImportSummary

MOBILIZE = Path(__file__).parents[1] / "data" / "mobilize"


def test_the_summary_names_each_bad_row_with_its_reason_bounded_on_screen() -> None:
    bad = [BadRow(n, f"VanID: must be a whole number, got 'x{n}'") for n in range(2, 32)]
    bad[0] = BadRow(2, "DateCanvassed: is missing; " + "x" * 1000)
    summary = ImportSummary(
        "export.csv-1234abcd",
        "contacts.raw",
        sent=5,
        bad=bad,
        bad_total=34,
        complete=True,
        rejects_file=Path("var/imports/export.csv-1234abcd.rejects.csv"),
    )
    text = str(summary)
    assert summary.rejected
    assert "34 bad row(s), not imported (4 in earlier runs of this import):" in text
    lines = text.splitlines()
    listed = [line for line in lines if line.startswith("  line ")]
    assert (
        len(listed) == MAX_LISTED
        and listed[1] == "  line 3: VanID: must be a whole number, got 'x3'"
    )
    assert len(listed[0]) <= len("  line 2: ") + MAX_REASON and listed[0].endswith("...")
    assert "  ... and 10 more" in lines
    assert lines[-1] == "Every bad row with its reason: var/imports/export.csv-1234abcd.rejects.csv"


def test_a_clean_import_is_not_rejected() -> None:
    summary = ImportSummary("x", "contacts.raw", sent=3, complete=True)
    assert not summary.rejected and "bad row" not in str(summary)


def test_an_export_of_shifts_alone_says_what_it_sent() -> None:
    text = str(ImportSummary("mobilize-1", "contacts.raw.bulk", shifts=737, complete=True))
    assert text.startswith("mobilize-1: sent 737 shift states in ")
    assert "events" not in text.split(",")[0]
    both = str(ImportSummary("van-2", "contacts.raw.bulk", sent=5, signals=2, complete=True))
    assert both.startswith("van-2: sent 5 events to contacts.raw.bulk and 2 person signals in ")
