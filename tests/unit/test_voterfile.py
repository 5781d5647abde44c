"""Voter file reading: mappings and presets (L2 CSV, TargetSmart Parquet, NC tab file),
race/ethnicity source precedence, BISG fill, line- or row-numbered problems, nothing sent when
rows are bad."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import ConfigError, InputError
from core.settings import KafkaSettings
from producers.bisg import Bisg
from producers.voterfile import RowProblem, load_mapping, load_voters, read_voters
from schemas.codec import VOTER, AvroCodec, load_schemas

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


# --- presets, race/ethnicity sources, BISG, Parquet ---------------------------------------

DATA = Path(__file__).resolve().parents[1] / "data" / "voterfiles"
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
VOTER_FIELDS = {f["name"] for f in load_schemas()[VOTER]["fields"]}


@pytest.fixture(scope="module")
def bisg() -> Bisg:
    return Bisg()


def _by_id(items: list[Any]) -> dict[str, dict[str, Any]]:
    assert not [i for i in items if isinstance(i, RowProblem)], items
    return {r["voter_id"]: r for r in items}


def src(rec: dict[str, Any], name: str = "race") -> tuple[Any, ...]:
    """(value, source, probability) of race or ethnicity."""
    return rec[name], rec[f"{name}_source"], rec[f"{name}_probability"]


def _bad(tmp_path: Path, source: Path, extra: str) -> Path:
    path = tmp_path / source.name
    path.write_text(source.read_text() + extra)
    return path


def test_l2_csv_preset(bisg: Bisg) -> None:
    got = _by_id(list(read_voters(DATA / "l2_voters.csv", None, preset="l2", now=NOW, bisg=bisg)))
    assert len(got) == 5
    garcia = got["LALNC1000001"]
    assert garcia["state"] == "NC"  # from LALVOTERID, characters 4-5
    assert (garcia["county"], garcia["precinct"]) == ("WAKE", "01-07")
    assert (garcia["congressional_district"], garcia["state_house_district"]) == ("2", "33")
    assert (garcia["birth_year"], garcia["age"]) == (1980, 46)  # from the birth date, on NOW
    assert got["LALNC1000002"]["age"] == 62  # born 11/30/1963: birthday not yet on Nov 25
    assert src(garcia) == ("latino", "vendor_model", None)
    assert (garcia["ethnicity"], garcia["ethnicity_source"]) == ("hispanic", "vendor_model")
    smith = got["LALNC1000004"]
    assert (smith["birth_year"], smith["age"], smith["sex"]) == (1990, None, "unknown")
    nguyen = got["LALNC1000003"]  # no modeled group: BISG from surname and zip
    want = bisg.predict(["NGUYEN"], ["27606"])[0]
    assert want is not None
    assert (nguyen["race"], nguyen["race_source"]) == (want.race, "bisg")
    assert nguyen["race_probability"] == pytest.approx(want.race_probability)
    assert (nguyen["ethnicity"], nguyen["ethnicity_source"]) == (want.ethnicity, "bisg")
    assert nguyen["ethnicity_probability"] == pytest.approx(want.ethnicity_probability)
    assert (nguyen["birth_year"], nguyen["age"]) == (None, 30)  # Voters_Age when no birth date
    other = got["LALNC1000005"]  # modeled race kept; ethnicity unknown and BISG knows nothing
    assert (other["race"], other["race_source"]) == ("other", "vendor_model")
    assert (other["ethnicity"], other["ethnicity_source"]) == ("unknown", "unknown")
    for rec in got.values():  # surnames and zips never leave the loader
        assert set(rec) <= VOTER_FIELDS
        AvroCodec().encode(VOTER, rec)


def _targetsmart_parquet(tmp_path: Path, extra: list[dict[str, Any]] | None = None) -> Path:
    with (DATA / "targetsmart_voters.csv").open(newline="") as f:
        rows: list[dict[str, Any]] = list(csv.DictReader(f))
    for r in rows:  # typed columns, as a warehouse export has them
        r["voterbase_age"] = int(r["voterbase_age"])
        r["tsmr_race_prob"] = float(r["tsmr_race_prob"]) if r["tsmr_race_prob"] else None
        r["vf_cd"] = int(r["vf_cd"])
    rows += extra or []
    path = tmp_path / "targetsmart.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=3)
    return path


def test_targetsmart_parquet_preset_and_source_precedence(tmp_path: Path, bisg: Bisg) -> None:
    path = _targetsmart_parquet(tmp_path)
    got = _by_id(list(read_voters(path, None, preset="targetsmart", now=NOW, bisg=bisg)))
    assert len(got) == 5
    garcia = got["GA-10000001"]
    assert (garcia["state"], garcia["age"], garcia["sex"]) == ("GA", 44, "female")
    assert garcia["congressional_district"] == "5"  # an int column, read as the file's text
    # self-reported on the state file wins over the model, and carries no probability
    assert src(garcia) == ("latino", "self_reported", None)
    assert (garcia["ethnicity"], garcia["ethnicity_source"]) == ("hispanic", "self_reported")
    jones = got["GA-10000005"]  # vf_race White beats tsmr_race Black
    assert (jones["race"], jones["race_source"]) == ("white", "self_reported")
    washington = got["GA-10000002"]  # no state-file race: the model, with its probability
    assert (washington["race"], washington["race_source"]) == ("black", "vendor_model")
    assert washington["race_probability"] == pytest.approx(0.88)
    # P(race) is not P(ethnicity): ethnicity read from the model has no probability
    assert src(washington, "ethnicity") == ("not_hispanic", "vendor_model", None)
    smith = got["GA-10000004"]  # vf_race "U" is unknown: the next source gives race
    assert (smith["race"], smith["race_source"]) == ("white", "vendor_model")
    assert smith["race_probability"] == pytest.approx(0.6)
    nguyen = got["GA-10000003"]  # "Unknown" on file, no model: BISG (ZIP+4 cut to 5)
    want = bisg.predict(["NGUYEN"], ["30310"])[0]
    assert want is not None
    assert (nguyen["race"], nguyen["race_source"]) == (want.race, "bisg")
    assert nguyen["race_probability"] == pytest.approx(want.race_probability)


def test_nc_tab_file_preset(bisg: Bisg) -> None:
    got = _by_id(list(read_voters(DATA / "nc_voters.txt", None, preset="nc", now=NOW, bisg=bisg)))
    assert len(got) == 5
    garcia = got["AA100001"]
    assert (garcia["state"], garcia["county"], garcia["precinct"]) == ("NC", "WAKE", "01-07")
    assert (garcia["state_senate_district"], garcia["birth_year"], garcia["age"]) == (
        "14",
        1980,
        None,  # a birth year only: no age is made up
    )
    # NC asks race and ethnicity separately: both self-reported, kept apart
    assert (garcia["race"], garcia["race_source"]) == ("white", "self_reported")
    assert (garcia["ethnicity"], garcia["ethnicity_source"]) == ("hispanic", "self_reported")
    smith = got["AA100004"]  # race on file, ethnicity undesignated: BISG fills ethnicity only
    want = bisg.predict(["SMITH"], ["27601"])[0]
    assert want is not None
    assert src(smith) == ("white", "self_reported", None)
    assert (smith["ethnicity"], smith["ethnicity_source"]) == (want.ethnicity, "bisg")
    assert smith["ethnicity_probability"] == pytest.approx(want.ethnicity_probability)
    assert got["AA100003"]["race_source"] == "bisg"
    unknown = got["AA100005"]
    assert src(unknown) == ("unknown", "unknown", None) and unknown["sex"] == "unknown"


def test_without_bisg_unknowns_stay_unknown() -> None:
    got = _by_id(list(read_voters(DATA / "nc_voters.txt", None, preset="nc", now=NOW)))
    assert {r["race_source"] for r in got.values()} == {"self_reported", "unknown"}


UNREACHABLE = KafkaSettings(bootstrap_servers="127.0.0.1:1")


def test_l2_bad_rows_have_line_numbers_and_nothing_is_sent(tmp_path: Path) -> None:
    extra = (
        "LALNC1000006,A,X,Y,27601,NC,Q,40,01/01/1986,,European,WAKE,01-07,2,14,33\n"
        "LALNC1000007,A,X,Y,27601,NC,F,40,31/12/1985,,Martian,WAKE,01-07,2,14,33\n"
    )
    path = _bad(tmp_path, DATA / "l2_voters.csv", extra)
    with pytest.raises(InputError) as info:
        load_voters(path, None, UNREACHABLE, preset="l2")
    message = str(info.value)
    assert "2 bad row(s)" in message and "nothing was sent" in message
    assert "line 7: sex 'Q'" in message
    assert (
        "line 8: " in message and "'Martian' in column 'EthnicGroups_EthnicGroup1Desc'" in message
    )
    assert "birth date (column 'Voters_BirthDate') does not match" in message
    assert "31/12/1985" not in message  # birth dates are personal data


def test_parquet_bad_rows_are_numbered_by_row_across_batches(tmp_path: Path) -> None:
    base = {
        "first_name": "A",
        "last_name": "B",
        "vf_reg_cass_zip": "30310",
        "voterbase_gender": "Female",
        "voterbase_age": 40,
        "vf_race": "White",
        "tsmr_race": None,
        "tsmr_race_prob": None,
        "vf_county_name": "FULTON",
        "vf_precinct_id": "P1",
        "vf_cd": 5,
        "vf_sd": "39",
        "vf_hd": "58",
    }
    extra = [base | {"voterbase_id": f"GA-2{i:07d}"} for i in range(12_000)]
    extra[11_000]["voterbase_age"] = 200  # file row 5 + 11_001
    path = _targetsmart_parquet(tmp_path, extra)
    with pytest.raises(InputError, match=r"1 bad row.*\nrow 11006: age 200 is outside 0\.\.130"):
        load_voters(path, None, UNREACHABLE, preset="targetsmart")


def test_nc_bad_row_and_skip_bad_rejects_file(tmp_path: Path) -> None:
    row = (
        "92\tWAKE\t1\t\tDOE\tX\t\tA\tRALEIGH\tNC\t27601\tZ\tHL\tDEM\tF\t1980\t46\tP\tP\t2\t14\t33\n"
    )
    path = _bad(tmp_path, DATA / "nc_voters.txt", row)
    items = list(read_voters(path, None, preset="nc"))
    bad = [i for i in items if isinstance(i, RowProblem)]
    assert [b.line for b in bad] == [7]
    assert "voter_id" in bad[0].problems[0] and "race 'Z' in column 'race_code'" in str(bad[0])


def test_race_sources_in_order_first_known_wins(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "default_state: PA\ncolumns: {voter_id: id}\n"
        "values: {race: {W: white, B: black, U: unknown}}\n"
        "race:\n"
        "  - {column: self, source: self_reported}\n"
        "  - {column: model, source: vendor_model, probability: p, probability_scale: 100}\n"
        "  - {column: file_bisg, source: bisg, probability: bp}\n"
    )
    path = tmp_path / "v.csv"
    path.write_text(
        "id,self,model,p,file_bisg,bp\n"
        "1,W,B,90,B,0.7\n"  # self-reported wins
        "2,,B,90,W,0.7\n"  # empty: next source
        "3,U,,,W,0.7\n"  # unknown and empty: the file's own BISG column
        "4,,,,,\n"  # nothing: unknown, no probability
        "5,,B,190,,\n"  # a probability over 100 on a 0..100 scale
    )
    items = list(read_voters(path, mapping))
    got = {r["voter_id"]: r for r in items if not isinstance(r, RowProblem)}
    assert src(got["1"]) == ("white", "self_reported", None)
    assert (got["2"]["race"], got["2"]["race_source"]) == ("black", "vendor_model")
    assert got["2"]["race_probability"] == pytest.approx(0.9)
    assert (got["3"]["race"], got["3"]["race_source"]) == ("white", "bisg")
    assert src(got["4"]) == ("unknown", "unknown", None)
    (bad,) = [i for i in items if isinstance(i, RowProblem)]
    assert bad.line == 6 and "outside 0..1" in str(bad)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("columns: {voter_id: id, race: R}\nrace: [{column: r, source: vendor_model}]", "one form"),
        ("race: [{column: r, source: self_reported, probability: p}]", "only modeled"),
        ("race: [{column: r, source: guess}]", "self_reported, vendor_model, bisg"),
        ("bisg: {surname: s}", "surname and a zip"),
    ],
)
def test_mapping_mistakes_are_config_errors(tmp_path: Path, body: str, match: str) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(body)
    with pytest.raises(ConfigError, match=match):
        load_mapping(mapping)


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="l2, nc, targetsmart"):
        load_mapping(preset="vendorx")


def test_file_that_is_not_utf8_says_set_encoding(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_bytes(b"voter_id,state,county\nA1,ZZ,Ca\xf1on\n")
    with pytest.raises(InputError, match="encoding"):
        list(read_voters(path, None))
