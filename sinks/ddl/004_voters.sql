-- The voter file as last loaded (voters topic); the latest updated_at wins on merge.
CREATE TABLE IF NOT EXISTS voters
(
    voter_id String,
    state String,
    county String,
    precinct String,
    congressional_district String,
    state_senate_district String,
    state_house_district String,
    birth_year Nullable(UInt16),
    age Nullable(UInt8),
    age_band LowCardinality(String),
    sex LowCardinality(String),
    race LowCardinality(String),
    race_source LowCardinality(String),
    race_probability Nullable(Float64),
    ethnicity LowCardinality(String),
    ethnicity_source LowCardinality(String),
    ethnicity_probability Nullable(Float64),
    precinct_lat Nullable(Float64),
    precinct_lon Nullable(Float64),
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (state, voter_id)
SETTINGS non_replicated_deduplication_window = 1000;
