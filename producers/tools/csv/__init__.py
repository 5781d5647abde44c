"""Any tool's CSV export, through a mapping file a data manager writes
(``fieldstream import csv``)."""

from producers.tools.base import Tool
from producers.tools.csv import importer

TOOL = Tool(
    name="csv",
    title="The generic CSV importer",
    result_doc="Its result map is the `values.result` section of each mapping file "
    "(see `docs/sources.md`): the data manager writes it per export.",
    import_adapter=importer.replay_adapter,
)
