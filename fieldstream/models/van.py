"""Scores in the shape VAN's score upload takes: a zipped CSV and its fileLoadingJobs request.

VAN loads scores through ``POST /v4/fileLoadingJobs``: the request names the URL of a **zipped
CSV** (``file``: ``fileName``, ``columns`` [{``name``}], ``columnDelimiter``, ``hasHeader``,
``hasQuotes``, ``sourceUrl``) and one **Score action** per score column (``actionType`` Score,
``personIdColumn``, ``personIdType`` one of VANID, DWID, StateFileID, ``scoreColumn``,
``scoreId`` the score slot, optional ``approvalCriteria`` {``average``, ``tolerance``} for keys
allowed to auto-approve Range scores). A Range score's values must lie within the score's
configured minValue..maxValue. Sources: https://docs.ngpvan.com/reference/fileloadingjobs, and
move-coop/parsons ``parsons/ngpvan/scores.py`` (``upload_scores``, which builds the same body and
notes NGP VAN asks for several scores in one call). Recorded in docs/models.md.

fieldstream writes the zip and the request body beside it; the data manager puts the zip where
VAN can fetch it, sets ``sourceUrl`` and posts the body (docs/models.md shows the call). Nothing
here talks to VAN.
"""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InputError

# --id-type -> (personIdType, the CSV's id column); DWID exists only in some VAN instances and
# fieldstream never learns it, so it is not offered
ID_TYPES = {"vanid": ("VANID", "VanID"), "statefileid": ("StateFileID", "StateFileID")}
SCORE_COLUMN = "Score"
MAX_TOLERANCE = 0.1  # parsons: "Maximum of .1"
SOURCE_URL = "https://REPLACE-with-where-the-zip-is/"


@dataclass
class VanExport:
    zip_path: Path
    job_path: Path
    written: int
    average: float
    body: dict[str, Any]

    def __str__(self) -> str:
        return (
            f"{self.written:,} scores (mean {self.average:.2f}) in {self.zip_path}; request body "
            f"in {self.job_path} (set file.sourceUrl to where the zip can be fetched)"
        )


def job_body(
    file_name: str,
    id_type: str,
    score_id: int,
    average: float,
    tolerance: float | None = None,
    description: str = "fieldstream scores",
) -> dict[str, Any]:
    """The fileLoadingJobs request for one score column of ``file_name``."""
    van_type, id_column = ID_TYPES[id_type]
    action: dict[str, Any] = {
        "actionType": "Score",
        "personIdColumn": id_column,
        "personIdType": van_type,
        "scoreColumn": SCORE_COLUMN,
        "scoreId": score_id,
    }
    if tolerance is not None:
        action["approvalCriteria"] = {"average": round(average, 4), "tolerance": tolerance}
    return {
        "description": description,
        "file": {
            "fileName": file_name,
            "columns": [{"name": id_column}, {"name": SCORE_COLUMN}],
            "columnDelimiter": "Csv",
            "hasHeader": True,
            "hasQuotes": False,
            "sourceUrl": SOURCE_URL + file_name.replace(".csv", ".zip"),
        },
        "actions": [action],
    }


def write_van_scores(
    out: Path,
    scores: Iterable[tuple[str, float]],
    *,
    id_type: str,
    score_id: int,
    scale: float = 100.0,
    decimals: int = 1,
    tolerance: float | None = None,
    description: str = "fieldstream scores",
) -> VanExport:
    """``out`` (a .zip holding one CSV of person id and score) and ``out``.job.json.

    ``scores`` are (person id, probability 0..1); each is written times ``scale`` (VAN Range
    scores are often 0..100) with ``decimals`` places. Ids must be unique and non-empty.
    """
    if id_type not in ID_TYPES:
        raise InputError(f"--id-type must be one of {', '.join(ID_TYPES)}")
    if score_id <= 0:
        raise InputError("--score-id is the VAN score slot's id, a positive number")
    if tolerance is not None and not 0 < tolerance <= MAX_TOLERANCE:
        raise InputError(f"--approve-tolerance must be above 0 and at most {MAX_TOLERANCE}")
    if out.suffix != ".zip":
        raise InputError(f"{out.name}: VAN loads zipped CSV files; name the output .zip")
    file_name = out.with_suffix(".csv").name
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([ID_TYPES[id_type][1], SCORE_COLUMN])
    seen: set[str] = set()
    total, written = 0.0, 0
    for person, p in scores:
        if not person or person in seen:
            raise InputError("a person id is empty or listed twice; nothing written")
        if not 0.0 <= p <= 1.0 or math.isnan(p):
            raise InputError("a score is outside 0..1; nothing written")
        seen.add(person)
        value = round(p * scale, decimals)
        writer.writerow([person, f"{value:.{decimals}f}"])
        total += value
        written += 1
    if not written:
        raise InputError("no voter has both a score and an id of that type; nothing written")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(file_name, buf.getvalue())
    average = total / written
    body = job_body(file_name, id_type, score_id, average, tolerance, description)
    job_path = out.with_suffix(".job.json")
    job_path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return VanExport(out, job_path, written, average, body)
