-- Who voted, per election, loaded after the election from a state's or a vendor's vote history
-- (fieldstream load-vote-history; sinks/vote_history.py). One row per voter per election voted:
-- a voter absent for an election did not vote in it (as far as the file knows).
--
-- Every load has its own load_id and is in the key, so a reload never overwrites the rows of an
-- earlier one; a load becomes current for a state and election only when it finishes (its row
-- in vote_history_loads is written last), so an interrupted or refused load is never seen.
CREATE TABLE IF NOT EXISTS vote_history
(
    state LowCardinality(String),
    voter_id String,
    election_date Date,
    election_name LowCardinality(String),
    method LowCardinality(String),
    load_id String,
    loaded_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY (state, election_date, load_id, voter_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS vote_history_loads
(
    load_id String,
    state LowCardinality(String),
    election_date Date,
    voters UInt64,
    source String,
    loaded_at DateTime64(3, 'UTC'),
    finished_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(finished_at)
ORDER BY (state, election_date, load_id);

-- The newest finished load of each state and election.
CREATE VIEW IF NOT EXISTS vote_history_current AS
SELECT
    toString(h.state) AS state,
    h.voter_id AS voter_id,
    h.election_date AS election_date,
    toString(h.election_name) AS election_name,
    toString(h.method) AS method
FROM vote_history AS h FINAL
WHERE (toString(h.state), h.election_date, h.load_id) IN
(
    SELECT toString(state), election_date, argMax(load_id, loaded_at)
    FROM vote_history_loads
    GROUP BY state, election_date
);

-- Elections on file: voters who voted in each, from the newest load.
CREATE VIEW IF NOT EXISTS vote_history_elections AS
SELECT
    toString(l.state) AS state,
    l.election_date AS election_date,
    argMax(l.voters, l.loaded_at) AS voters,
    argMax(l.source, l.loaded_at) AS source,
    max(l.loaded_at) AS last_loaded_at
FROM vote_history_loads AS l
GROUP BY state, election_date;
