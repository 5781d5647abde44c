"""Fields the standard derives from others (age from birth year, age bands), computed the same
way by every stage that needs them: the sink's rows and the exchange's shared records."""

from __future__ import annotations

import datetime as dt
from typing import Any

Record = dict[str, Any]

UNKNOWN = "unknown"


def age_of(voter: Record | None, year: int | None = None) -> int | None:
    """Age from voter.age, else (year or this year) - birth_year; None when unknown."""
    if voter is None:
        return None
    age = voter.get("age")
    if age is None:
        birth_year = voter.get("birth_year")
        if birth_year is None:
            return None
        age = (year or dt.datetime.now(dt.UTC).year) - int(birth_year)
    age = int(age)
    return age if 0 <= age <= 255 else None


def age_band(age: int | None) -> str:
    """18-29, 30-44, 45-64, 65+ or unknown (under 18 or not known)."""
    if age is None or age < 18:
        return UNKNOWN
    if age < 30:
        return "18-29"
    if age < 45:
        return "30-44"
    if age < 65:
        return "45-64"
    return "65+"
