"""docs/notebook.md works as written: its ``python`` blocks run against a store with scores
and a measured program, through clickhouse-connect on the chDB directory."""

from __future__ import annotations

import re
from pathlib import Path

import clickhouse_connect
import pandas as pd
import pytest

from fieldstream.models.run import train_model
from fieldstream.models.synthetic import voters
from sinks.migrate import migrate
from sinks.remote import DirectAccess
from sinks.rows import VOTER_COLUMNS
from sinks.store import LockedStore
from tests.integration.test_models import add_ids, voter_rows

pytestmark = pytest.mark.integration

GUIDE = Path(__file__).parents[2] / "docs" / "notebook.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def test_the_guides_code_runs_and_returns_dataframes(chdb_dsn: str) -> None:
    client = clickhouse_connect.get_client(dsn=chdb_dsn)
    store = LockedStore(client)
    migrate(client)
    file = voters(3000, seed=8).assign(state="ZZ")
    store.insert("voters", VOTER_COLUMNS, voter_rows(file))
    access = DirectAccess(store)
    add_ids(access, file)
    train_model(access, "support", "org-m")
    blocks = BLOCK.findall(GUIDE.read_text())
    assert len(blocks) >= 5
    names: dict[str, object] = {"client": client}
    for code in blocks:
        exec(compile(code.replace('"demo-org"', '"org-m"'), str(GUIDE), "exec"), names)
    assert isinstance(names["voters"], pd.DataFrame) and len(names["voters"]) == 3000
    x = names["x"]
    assert isinstance(x, pd.DataFrame) and "race" in x.columns
    scores = names["scores"]
    assert isinstance(scores, pd.DataFrame) and len(scores) == 3000
    assert scores["score"].between(0, 1).all()
    bins = names["bins"]
    assert isinstance(bins, pd.DataFrame) and bins["voters"].sum() > 0
    assert isinstance(names["effects"], pd.DataFrame)  # no holdout here: empty, not an error
    client.close()
