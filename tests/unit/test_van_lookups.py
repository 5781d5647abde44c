"""`fieldstream van codes`: VAN's lookup responses -> a codes file (golden, property)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ConfigError
from producers.tools.van.lookups import LOOKUPS, build_codes, read_lookups, render_codes
from schemas.van_codes import load_codes

DATA = Path(__file__).resolve().parents[1] / "data" / "van_api"
HEADER = "VAN codes for source state-party-van, built by fieldstream van codes from VAN lookups"


def test_the_committee_lookups_give_the_golden_codes_file() -> None:
    built = build_codes(read_lookups(DATA / "committee"))
    assert render_codes(built, HEADER) == (DATA / "committee.codes.yaml").read_text()


def test_the_golden_file_loads_and_maps_what_vans_names_say(tmp_path: Path) -> None:
    codes = load_codes(DATA / "committee.codes.yaml")
    assert codes.result_codes[18].result == "busy"
    assert codes.result_codes[20].result == "wrong_number"
    assert codes.result_codes[130].opt_out and codes.result_codes[22].opt_out
    assert not codes.result_codes[14].opt_out
    assert codes.contact_types[2].channel == "door"
    assert codes.contact_types[37].contact_type == "sms"
    assert codes.survey_questions[378552].responses[1555795].answer == "No"
    assert codes.survey_questions[311838].responses[1288926].support_level == 1
    assert codes.survey_questions[378552].responses[1555791].support_level is None
    assert codes.activist_codes[4153148] == "Opt-In: Cell Phone"


def test_what_is_not_mapped_is_listed_with_the_reason() -> None:
    built = build_codes(read_lookups(DATA / "committee"))
    unmapped = {(u.section, u.van_id) for u in built.unmapped}
    assert unmapped == {
        ("result_codes", 13),
        ("result_codes", 17),
        ("result_codes", 23),
        ("result_codes", 131),
        ("contact_types", 4),
        ("contact_types", 15),
        ("contact_types", 79),
    }
    assert built.missing == []
    assert 13 not in built.sections["result_codes"]


def test_an_unknown_name_is_never_guessed() -> None:
    built = build_codes(
        {
            "resultCodes": [{"resultCodeId": 77, "name": "Spoke To Neighbor"}],
            "contactTypes": [
                {"contactTypeId": 132, "name": "Relational SMS", "channelTypeName": "Text"}
            ],
            "inputTypes": [{"inputTypeId": 14, "name": "Bulk"}],
        }
    )
    assert built.sections == {"result_codes": {}, "contact_types": {}, "input_types": {}}
    why = {u.van_id: u.why for u in built.unmapped}
    assert "not one fieldstream knows" in why[77]
    assert "'Text'" in why[132]
    assert built.missing == ["surveyQuestions", "activistCodes"]
    text = render_codes(built, "h")
    assert "result_codes: {}" in text and "#   77 Spoke To Neighbor" in text
    assert "# not built: no surveyQuestions lookup was given" in text


def test_one_json_object_with_the_five_keys_reads_like_the_folder(tmp_path: Path) -> None:
    folder = read_lookups(DATA / "committee")
    one = tmp_path / "lookups.json"
    one.write_text(json.dumps(folder))
    assert read_lookups(one) == folder


def test_saved_pages_are_joined() -> None:
    pages = [
        {"items": [{"activistCodeId": 1, "name": "A"}], "nextPageLink": "x"},
        {"items": [{"activistCodeId": 2, "name": "B"}], "nextPageLink": None},
    ]
    assert build_codes({"activistCodes": pages}).sections["activist_codes"] == {1: "A", 2: "B"}


def test_questions_that_share_a_name_get_their_id_beside_it() -> None:
    qs = {
        "items": [
            {"surveyQuestionId": 1, "name": "Support", "responses": []},
            {"surveyQuestionId": 2, "name": "Support", "responses": []},
        ]
    }
    sections = build_codes({"surveyQuestions": qs}).sections["survey_questions"]
    assert [q["name"] for q in sections.values()] == ["Support (1)", "Support (2)"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"resultCodes": {"x": 1}}', "expected a list"),
        ('{"resultCodes": [{"resultCodeId": "14", "name": "Canvassed"}]}', "not a whole number"),
        ('{"resultCodes": [{"resultCodeId": 14}]}', "has no name"),
        ('{"resultCodes": [], "tags": []}', "unknown key"),
        ("[1, 2]", "must be a JSON object"),
        ("{not json", "cannot be read as JSON"),
    ],
)
def test_bad_lookups_are_a_config_error_naming_the_problem(
    tmp_path: Path, content: str, problem: str
) -> None:
    file = tmp_path / "lookups.json"
    file.write_text(content)
    with pytest.raises(ConfigError, match=problem):
        build_codes(read_lookups(file))


def test_a_folder_without_lookups_says_what_to_save(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"resultCodes\.json"):
        read_lookups(tmp_path)


names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20
).filter(lambda s: s.strip() == s and s.strip())
ids = st.integers(min_value=1, max_value=10**9)


@settings(max_examples=60, deadline=None)
@given(
    questions=st.dictionaries(
        ids, st.tuples(names, st.dictionaries(ids, names, max_size=4)), max_size=4
    ),
    activist=st.dictionaries(ids, names, max_size=4),
    results=st.lists(
        st.sampled_from(["Canvassed", "Not Home", "Busy", "Do Not Text", "No"]), max_size=5
    ),
)
def test_any_rendered_file_loads_back_to_what_was_built(
    tmp_path_factory: pytest.TempPathFactory,
    questions: dict[int, tuple[str, dict[int, str]]],
    activist: dict[int, str],
    results: list[str],
) -> None:
    lookups: dict[str, Any] = {
        "surveyQuestions": [
            {
                "surveyQuestionId": q,
                "name": name,
                "type": "Candidate",
                "responses": [{"surveyResponseId": r, "name": a} for r, a in answers.items()],
            }
            for q, (name, answers) in questions.items()
        ],
        "activistCodes": [{"activistCodeId": a, "name": n} for a, n in activist.items()],
        "resultCodes": [{"resultCodeId": i + 1, "name": n} for i, n in enumerate(results)],
    }
    built = build_codes(lookups)
    file = tmp_path_factory.mktemp("codes") / "codes.yaml"
    file.write_text(render_codes(built, "generated\nfor a test"))
    codes = load_codes(file)
    for q, question in built.sections["survey_questions"].items():
        assert codes.survey_questions[q].question_id == question["name"]
        for r, answer in question["responses"].items():
            loaded = codes.survey_questions[q].responses[r]
            assert (loaded.answer, loaded.support_level) == (
                answer["answer"],
                answer.get("support_level"),
            )
    assert {k: codes.activist_codes[k] for k in activist} == built.sections["activist_codes"]
    for code, entry in built.sections["result_codes"].items():
        assert codes.result_codes[code].result == entry["result"]


def test_every_lookup_name_is_a_file_name_the_docs_use() -> None:
    assert LOOKUPS == (
        "resultCodes",
        "contactTypes",
        "inputTypes",
        "surveyQuestions",
        "activistCodes",
    )
