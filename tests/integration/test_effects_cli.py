"""The commands as a data manager runs them: holdout, list export, vote history, models, report.

Each command is its own process on one data directory (chDB: one process at a time), no sink
running, so each opens the store itself, as on a laptop between field days.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fieldstream.embedded import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
SEED_STORE = """
import sys
from fieldstream.models.synthetic import voters
from sinks.migrate import migrate
from sinks.remote import DirectAccess
from sinks.rows import VOTER_COLUMNS
from sinks.store import LockedStore, open_store
from tests.integration.test_models import add_ids, voter_rows

store = LockedStore(open_store(sys.argv[1]))
migrate(store.client)
file = voters(2000, seed=9)
store.insert("voters", VOTER_COLUMNS, voter_rows(file))
add_ids(DirectAccess(store), file)
file[["state", "voter_id", "precinct"]].to_csv(sys.argv[2], index=False)
store.close()
"""


def run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "fieldstream.cli", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stderr + done.stdout


def test_a_data_managers_commands(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FIELDSTREAM_DATA_DIR": str(tmp_path / "var"),
        "FIELDSTREAM_SINK__QUERY_PORT": str(free_port()),  # no sink there: open chDB directly
        "COLUMNS": "200",
    }
    dsn = f"chdb://{tmp_path / 'var' / 'chdb'}"
    seeded = subprocess.run(
        [sys.executable, "-c", SEED_STORE, dsn, str(tmp_path / "voters.csv")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    with (tmp_path / "voters.csv").open() as f, (tmp_path / "u.csv").open("w") as out:
        w = csv.writer(out)
        w.writerow(["org_id", "campaign_id", "state", "voter_id", "channel"])
        for r in csv.DictReader(f):
            w.writerow(["org-m", "gotv", r["state"], r["voter_id"], "door"])

    said = run(env, "load-universe", str(tmp_path / "u.csv"), "--holdout", "0.2", "--seed", "5",
               "--stratify", "precinct,race")  # fmt: skip
    assert "org-m/gotv: 2,000 members, 400 held out" in said and "seed 5" in said
    said = run(env, "export-universe", "--org", "org-m", "--campaign", "gotv",
               "--out", str(tmp_path / "list.csv"))  # fmt: skip
    assert "wrote 1,600 voters" in said and "400 held-out voters left out" in said

    said = run(env, "load-vote-history", str(ROOT / "tests/data/vote_history/nc_ncvhis.txt"),
               "--preset", "nc")  # fmt: skip
    assert "3 election(s)" in said

    said = run(env, "model", "support", "--org", "org-m", "--plot", str(tmp_path / "cal.svg"))
    assert "2,000 voters scored" in said and "majority class" in said
    assert (tmp_path / "cal.svg").read_text().startswith("<svg")
    van = tmp_path / "van" / "support.zip"
    said = run(env, "model", "export-van", "--org", "org-m", "--score-id", "9",
               "--id-type", "statefileid", "--out", str(van))  # fmt: skip
    assert "2,000 scores" in said
    with zipfile.ZipFile(van) as z:
        assert z.read("support.csv").decode().startswith("StateFileID,Score\r\n")
    body = json.loads((tmp_path / "van" / "support.job.json").read_text())
    assert body["actions"][0]["personIdType"] == "StateFileID"

    run(env, "report", "--org", "org-m", "--campaign", "gotv", "--out", str(tmp_path / "r.html"))
    html = (tmp_path / "r.html").read_text()
    assert "Post-election analysis" in html and "Calibration of the models" in html
