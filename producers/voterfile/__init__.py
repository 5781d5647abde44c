"""The voter-file loader: CSV or Parquet, mapped by a YAML file or a preset, onto the voters topic.

One module per idea: mapping (what a file's columns mean), readers (stream rows), convert (row
to Voter), fill (BISG at load time), load (validate, then send). The names below are the
package's interface (the CLI and tests import them from here).
"""

from producers.voterfile.load import (
    LoadSummary,
    RowProblem,
    load_voters,
    read_batches,
    read_voters,
    resolve_mapping,
)
from producers.voterfile.mapping import Mapping, load_mapping, presets

__all__ = [
    "LoadSummary",
    "Mapping",
    "RowProblem",
    "load_mapping",
    "load_voters",
    "presets",
    "read_batches",
    "read_voters",
    "resolve_mapping",
]
