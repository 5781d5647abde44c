"""The ClickHouse sink: DDL, migrations, row building, the batching consumer, store access."""
