-- universe_groups again, with granules of 64 rows: it holds one row per group (thousands per
-- universe), each a bitmap of up to millions of members, and a coverage panel reads a few of
-- them; with the default 8,192 rows a granule ClickHouse read and decoded every bitmap of the
-- campaign to find its whole-universe rows (36 ms against 6 ms at 2M members, and the terminal
-- board reads them once per campaign). The keeper builds the groups again on its next pass
-- (sinks/coverage.py SHAPE), as after any change of their shape.
DROP TABLE IF EXISTS universe_groups;

CREATE TABLE IF NOT EXISTS universe_groups
(
    org_id LowCardinality(String),
    campaign_id LowCardinality(String),
    load_id String,
    loaded_at DateTime64(3, 'UTC'),
    dim LowCardinality(String),
    value String,
    source LowCardinality(String),
    members AggregateFunction(groupBitmap, UInt32),
    latitude Nullable(Float64),
    longitude Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY (org_id, campaign_id, load_id, dim, value, source)
SETTINGS index_granularity = 64;
