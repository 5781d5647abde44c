"""Synthetic support IDs with a known generating rule, to show what a model can learn from IDs.

The voters are fieldstream.effects.synthetic's population (county, segregated precincts, race with
its source, sex, age). Each voter's chance of supporting is a fixed logistic rule of race, age,
sex, county and a race-by-county interaction (:func:`support_probability`); a random share of
voters is canvassed and gives an ID drawn from that chance. The rule's own probabilities are the
best any model could do (the "oracle"), so a model's figures can be read against both the floor
(the majority class) and the ceiling.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from fieldstream.effects.synthetic import COUNTIES, STATE, population

RACE_LOGIT = {"white": -0.6, "black": 1.6, "latino": 0.8, "asian": 0.5, "other": 0.2}
COUNTY_LOGIT = {"Alder": 0.5, "Birch": -0.4, "Cedar": 0.1, "Dogwood": -0.8}
DISTRICTS = {"Alder": "1", "Birch": "1", "Cedar": "2", "Dogwood": "2"}


def support_probability(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    """The generating rule: the chance each voter supports, from their attributes."""
    race = frame["race"].map(RACE_LOGIT).to_numpy(float)
    county = frame["county"].map(COUNTY_LOGIT).to_numpy(float)
    age = frame["age"].to_numpy(float)
    young = np.clip((45 - age) / 25, -1, 1)  # younger voters lean our way
    female = (frame["sex"] == "female").to_numpy(float)
    interaction = ((frame["race"] == "white") & (frame["county"] == "Alder")).to_numpy(float)
    logit = -0.3 + race + county + 0.9 * young + 0.35 * female + 0.8 * interaction
    return 1 / (1 + np.exp(-logit))


def voters(n: int, seed: int) -> pd.DataFrame:
    """A voter file of ``n`` voters with the voters table's feature columns."""
    rng = np.random.default_rng(seed)
    pop = population(n, rng)
    lat = 40 + pop["precinct_index"] * 0.01
    frame = pd.DataFrame(
        {
            "state": STATE,
            "voter_id": pop["voter_id"],
            "sex": pop["sex"],
            "race": pop["race"],
            "race_source": pop["race_source"],
            "ethnicity": np.where(pop["race"] == "latino", "hispanic", "not_hispanic"),
            "ethnicity_source": pop["race_source"],
            "county": pop["county"],
            "precinct": pop["precinct"],
            "congressional_district": [DISTRICTS[c] for c in pop["county"]],
            "state_senate_district": [str(COUNTIES.index(c) + 1) for c in pop["county"]],
            "state_house_district": pop["precinct"],
            "age": pop["age"].astype(float),
            "precinct_lat": lat,
            "precinct_lon": -75 - pop["precinct_index"] * 0.01,
        }
    )
    frame["true_p"] = support_probability(frame)
    return frame


def ids(frame: pd.DataFrame, canvassed: float, seed: int) -> pd.DataFrame:
    """The voters a program canvassed (a random share) with the ID each gave (1 supports)."""
    rng = np.random.default_rng(seed + 1)
    picked = frame[rng.random(len(frame)) < canvassed].copy()
    picked["label"] = (rng.random(len(picked)) < picked["true_p"].to_numpy()).astype(int)
    return picked
