"""Voter file reading: mapping, line-numbered problems, nothing sent when rows are bad."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldstream.errors import InputError
from fieldstream.settings import KafkaSettings
from producers.voterfile import RowProblem, load_voters, read_voters

MAPPING = """
default_state: zz
columns: {voter_id: ID, county: Cnty, birth_year: YOB, sex: Gender, race: Race,
          race_source: RaceSrc, race_probability: RaceP}
values:
  sex: {F: female, M: male}
  race: {W: white, B: black}
  race_source: {VM: vendor_model}
"""


def _write(tmp_path: Path, body: str) -> tuple[Path, Path]:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING)
    path = tmp_path / "voters.csv"
    path.write_text("ID,Cnty,YOB,Gender,Race,RaceSrc,RaceP\n" + body)
    return path, mapping


def test_mapping_maps_columns_and_values(tmp_path: Path) -> None:
    path, mapping = _write(tmp_path, "A1,Alder,1980,F,B,VM,0.81\nA2,,,M,,,\n")
    first, second = list(read_voters(path, mapping))
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["voter_id"] == "A1" and first["state"] == "ZZ"
    assert first["county"] == "Alder" and first["birth_year"] == 1980
    assert (first["sex"], first["race"], first["race_source"]) == (
        "female",
        "black",
        "vendor_model",
    )
    assert first["race_probability"] == pytest.approx(0.81)
    assert second["county"] is None and second["birth_year"] is None
    assert (second["race"], second["race_source"], second["ethnicity"]) == (
        "unknown",
        "unknown",
        "unknown",
    )


def test_bad_rows_have_line_numbers(tmp_path: Path) -> None:
    body = 'A1,Alder,1980,F,W,,\n,Alder,1980,F,W,,\nA3,"Multi\nline",nineteen,Q,W,,2\n'
    path, mapping = _write(tmp_path, body)
    items = list(read_voters(path, mapping))
    assert isinstance(items[0], dict)
    bad = [i for i in items if isinstance(i, RowProblem)]
    assert [b.line for b in bad] == [3, 4]
    assert "voter_id" in bad[0].problems[0]
    text = str(bad[1])
    assert "birth_year 'nineteen'" in text and "sex 'Q'" in text and "race_probability" in text


def test_nothing_sent_when_a_row_is_bad(tmp_path: Path) -> None:
    path, mapping = _write(tmp_path, "A1,Alder,1980,F,W,,\nA2,Alder,3000,F,W,,\n")
    # an unreachable broker: if the loader tried to send, it would fail differently
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    with pytest.raises(InputError) as info:
        load_voters(path, mapping, kafka)
    message = str(info.value)
    assert "1 bad row" in message and "line 3" in message and "nothing was sent" in message


def test_error_lists_first_twenty_and_counts_the_rest(tmp_path: Path) -> None:
    path, mapping = _write(tmp_path, "".join(f"V{i},,x,,,,\n" for i in range(25)))
    with pytest.raises(InputError) as info:
        load_voters(path, mapping, KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    message = str(info.value)
    assert "line 21:" in message and "line 22:" not in message
    assert "and 5 more" in message


def test_missing_mapped_column_is_named(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING)
    path = tmp_path / "v.csv"
    path.write_text("ID,Cnty\nA1,Alder\n")
    with pytest.raises(InputError, match="YOB"):
        list(read_voters(path, mapping))
