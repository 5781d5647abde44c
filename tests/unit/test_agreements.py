"""Sharing agreements: loading, allow-list defaults, firewall, versions and the change log."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from streams.exchange.agreements import (
    GeoLevel,
    Precision,
    diff_agreements,
    load_agreements,
    parse_agreements,
)

UTC = dt.UTC

EXAMPLE = """
agreements:
  - id: state-party-2026
    partner: state-party
    valid_from: 2026-01-01
    valid_until: 2027-01-01T00:00:00Z
    share:
      - {org: demo-org, campaigns: [gotv-2026]}
    fields:
      timestamps: hour
      channel: true
      result: true
      survey_questions: [q-issue]
      support_levels: [q-support]
      activist_codes: [volunteer]
      canvasser: true
      geography: county
      demographics: [sex, age_band]
  - id: pac-2026
    partner: pac-x
    valid_from: 2026-01-01
    valid_until: "2026-12-01"
    share:
      - {org: ie-fund, campaigns: ["*"]}
    fields:
      timestamps: day
firewall_groups:
  coordinated: {orgs: [demo-org], partners: [state-party]}
  independent: {orgs: [ie-fund], campaigns: [demo-org/ie-2026], partners: [pac-x]}
never_share_between:
  - [coordinated, independent]
"""


def base() -> dict[str, Any]:
    return {
        "agreements": [
            {
                "id": "a1",
                "partner": "p1",
                "valid_from": "2026-01-01T00:00:00Z",
                "valid_until": "2027-01-01T00:00:00Z",
                "share": [{"org": "o1", "campaigns": ["c1"]}],
                "fields": {"timestamps": "day"},
            }
        ]
    }


def test_the_documented_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "agreements.yaml"
    path.write_text(EXAMPLE)
    loaded = load_agreements(path)
    a = loaded.by_id("state-party-2026")
    assert a is not None
    assert a.fields.timestamps is Precision.hour
    assert a.fields.geography is GeoLevel.county
    assert a.fields.demographics == ["age_band", "sex"]
    assert a.valid_from == dt.datetime(2026, 1, 1, tzinfo=UTC)
    assert loaded.by_id("pac-2026").valid_until == dt.datetime(2026, 12, 1, tzinfo=UTC)  # type: ignore[union-attr]
    assert loaded.partners() == ["pac-x", "state-party"]
    assert loaded.in_force("state-party", dt.datetime(2026, 6, 1, tzinfo=UTC)) is a
    assert loaded.in_force("state-party", dt.datetime(2027, 1, 1, tzinfo=UTC)) is None
    assert loaded.in_force("pac-x", dt.datetime(2026, 12, 1, tzinfo=UTC)) is None


def test_nothing_is_shared_unless_named() -> None:
    a = parse_agreements(base()).agreements[0]
    f = a.fields
    assert not (f.channel or f.result or f.canvasser)
    assert f.survey_questions == f.support_levels == f.activist_codes == f.demographics == []
    assert f.geography is GeoLevel.none


@pytest.mark.parametrize(
    ("mutate", "names"),
    [
        (lambda d: d["agreements"][0]["fields"].update(geograpy="county"), "a1].fields.geograpy"),
        (lambda d: d["agreements"][0]["fields"].pop("timestamps"), "a1].fields.timestamps"),
        (lambda d: d["agreements"][0]["fields"].update(timestamps="week"), "fields.timestamps"),
        (lambda d: d["agreements"][0]["fields"].update(geography="zip"), "fields.geography"),
        (lambda d: d["agreements"][0]["fields"].update(timezone="Mars/Base"), "fields.timezone"),
        (lambda d: d["agreements"][0]["fields"].update(demographics=["dob"]), "demographics[0]"),
        (lambda d: d["agreements"][0].update(share=[]), "agreements[a1].share"),
        (lambda d: d["agreements"][0].pop("valid_until"), "agreements[a1].valid_until"),
        (lambda d: d["agreements"][0].update(valid_from="2026-01-01T00:00"), "valid_from"),
        (lambda d: d["agreements"][0]["share"][0].update(campaigns=[]), "share[0].campaigns"),
        (lambda d: d.update(firewall_groups={"g": {"campaigns": ["nocampaign"]}}), "campaigns"),
        (lambda d: d.update(never_share_between=[["a", "b"]]), "group 'a'"),
        (
            lambda d: d["agreements"][0].update(valid_until="2025-01-01T00:00:00Z"),
            "agreements[a1].valid_until must be after",
        ),
    ],
)
def test_bad_files_fail_naming_the_key(mutate: Any, names: str) -> None:
    data = base()
    mutate(data)
    with pytest.raises(ConfigError) as err:
        parse_agreements(data)
    assert names in str(err.value)


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_agreements(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("agreements: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_agreements(bad)


def test_two_agreements_for_one_partner_may_not_overlap() -> None:
    data = base()
    second = copy.deepcopy(data["agreements"][0])
    second.update(id="a2", valid_from="2026-12-31T00:00:00Z", valid_until="2027-06-01T00:00:00Z")
    data["agreements"].append(second)
    with pytest.raises(ConfigError, match=r"agreements\[a1\] and agreements\[a2\]"):
        parse_agreements(data)
    second["valid_from"] = "2027-01-01T00:00:00Z"  # back to back is fine
    loaded = parse_agreements(data)
    assert loaded.in_force("p1", dt.datetime(2027, 1, 1, tzinfo=UTC)).id == "a2"  # type: ignore[union-attr]
    data["agreements"].append(copy.deepcopy(second))
    with pytest.raises(ConfigError, match=r"listed twice: \['a2'\]"):
        parse_agreements(data)


def firewalled(org: str = "o1", campaigns: list[str] | None = None) -> dict[str, Any]:
    data = base()
    data["agreements"][0]["share"] = [{"org": org, "campaigns": campaigns or ["c1"]}]
    data["firewall_groups"] = {
        "coordinated": {"partners": ["p1"]},
        "independent": {"orgs": ["ie"], "campaigns": ["o1/ie-camp"]},
    }
    data["never_share_between"] = [["independent", "coordinated"]]
    return data


def test_a_firewall_violation_fails_the_load() -> None:
    with pytest.raises(ConfigError, match=r"agreements\[a1\]\.share\[0\] shares ie with partner"):
        parse_agreements(firewalled(org="ie", campaigns=["*"]))
    with pytest.raises(ConfigError, match="shares o1/ie-camp with partner p1"):
        parse_agreements(firewalled(campaigns=["c1", "ie-camp"]))
    ok = parse_agreements(firewalled(campaigns=["*"]))  # only the event can tell: refused then
    assert ok.agreements[0].partner == "p1"
    assert ok.agreements[0].firewalled("ie", "anything")
    assert not ok.barred("someone-else")
    assert ok.agreements[0].firewalled("o1", "ie-camp")  # the agreement carries its bar
    assert not ok.agreements[0].firewalled("o1", "c1")


def test_version_follows_content_not_layout() -> None:
    a = parse_agreements(base()).agreements[0]
    again = parse_agreements(base()).agreements[0]
    assert a.version == again.version and len(a.version) == 16
    reordered = base()
    reordered["agreements"][0]["fields"]["survey_questions"] = ["q2", "q1", "q1"]
    other = base()
    other["agreements"][0]["fields"]["survey_questions"] = ["q1", "q2"]
    assert (
        parse_agreements(reordered).agreements[0].version
        == parse_agreements(other).agreements[0].version
    )
    assert parse_agreements(other).agreements[0].version != a.version
    dated = base()
    dated["agreements"][0]["valid_until"] = "2027-01-02T00:00:00Z"
    assert parse_agreements(dated).agreements[0].version != a.version


def test_a_copy_with_new_terms_never_keeps_the_cached_version() -> None:
    a = parse_agreements(base()).agreements[0]
    first = a.version  # computed once and kept on the instance
    assert a.version == first
    widened = a.model_copy(update={"partner": "someone-else"})
    assert widened.version != first
    assert a.model_copy().version == first  # same terms, same version


def test_diff_lines_name_each_change() -> None:
    old = parse_agreements(base())
    changed = base()
    changed["agreements"][0]["fields"]["activist_codes"] = ["volunteer"]
    changed["agreements"][0]["fields"]["geography"] = "precinct"
    new = parse_agreements(changed)
    v_old, v_new = old.agreements[0].version, new.agreements[0].version
    lines = diff_agreements(old, new)
    assert lines == [
        f'agreement a1 version {v_old} -> {v_new}: fields.activist_codes: [] -> ["volunteer"]',
        f'agreement a1 version {v_old} -> {v_new}: fields.geography: "none" -> "precinct"',
    ]
    assert diff_agreements(old, old) == []


def test_diff_lines_for_added_removed_and_firewall() -> None:
    old = parse_agreements(base())
    data = base()
    data["agreements"][0]["id"] = "a9"
    data["firewall_groups"] = {"g": {"partners": ["p7"]}}
    new = parse_agreements(data)
    lines = diff_agreements(old, new)
    assert f"agreement a1 (partner p1) removed; was version {old.agreements[0].version}" in lines
    assert f"agreement a9 (partner p1) added at version {new.agreements[0].version}" in lines
    assert 'firewall: firewall_groups.g.partners: null -> ["p7"]' in lines
    assert len(lines) == 5  # orgs and campaigns of the new group appear too


def test_the_guides_examples_load() -> None:
    """docs/exchange.md's agreement and firewall examples are one valid file."""
    import re

    import yaml

    page = (Path(__file__).resolve().parents[2] / "docs" / "exchange.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", page, re.S)]
    merged: dict[str, Any] = {}
    for block in blocks:
        if "keys" not in block:
            merged.update(block)
    loaded = parse_agreements(merged)
    assert loaded.by_id("state-party-2026") is not None
    assert loaded.by_id("state-party-2026").firewalled("ie-fund", "any")  # type: ignore[union-attr]
