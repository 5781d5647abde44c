"""The exchange's store-side work, run from the command line: the audit export, publishing our
universe voters' pseudonyms, and the coalition's aggregates (small groups suppressed).

The stream's exchange agent (streams/exchange/) writes the audit and the shared records; this
module reads them back from ClickHouse, which only the roof may do.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from core.errors import BrokerError
from core.producer import KafkaWriter
from fieldstream.suppress import Protected, protect
from schemas.codec import VOTER_PSEUDONYM, AvroCodec
from sinks.remote import StoreAccess
from sinks.sql import datetime64, string_literal
from streams.exchange.audit import pseudonym_records
from streams.exchange.pseudonym import KeyRing

EXPORT_COLUMNS = [
    "shared_at", "partner_id", "agreement_id", "agreement_version", "key_id",
    "shared_event_id", "event_id", "org_id", "campaign_id", "occurred_at",
]  # fmt: skip


def export_audit(
    store: StoreAccess, partner: str, start: dt.datetime, end: dt.datetime, out: Path
) -> int:
    """Write every record shared with ``partner`` in [start, end) to ``out`` (CSV, one row per
    record version the partner received, oldest first); returns the number of rows."""
    sql = (
        f"SELECT {', '.join(EXPORT_COLUMNS)} FROM exchange_audit FINAL "
        f"WHERE partner_id = {string_literal(partner)} "
        f"AND shared_at >= {datetime64(start)} "
        f"AND shared_at < {datetime64(end)} "
        "ORDER BY shared_at, shared_event_id, agreement_version"
    )
    _, rows = store.query(sql)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            writer.writerow([_text(v) for v in row])
    return len(rows)


def _text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return "" if value is None else str(value)


def publish_pseudonyms(
    store: StoreAccess,
    producer_conf: dict[str, Any],
    topic: str,
    keys: KeyRing,
    codec: AvroCodec,
) -> int:
    """Our current universes' voters' pseudonyms under every key -> ``topic`` (the sink stores
    them as voter_pseudonyms); returns the number of records produced, once all are acked."""
    _, rows = store.query("SELECT DISTINCT state, voter_id FROM universe_current")
    records = (
        (
            topic,
            None,
            f"{rec['state']}:{rec['voter_id']}:{rec['key_id']}".encode(),
            codec.encode(VOTER_PSEUDONYM, rec),
        )
        for rec in pseudonym_records(((str(s), str(v)) for s, v in rows), keys)
    )
    n, failed = KafkaWriter(producer_conf).send_blocking(records)
    if failed:
        raise BrokerError(
            f"{len(failed)} pseudonym records not delivered: {failed[0].error()}; run again"
        )
    return n


# the person's groups: from the record with the finest geography (and a known race/ethnicity),
# so each person counts once per dimension and a dimension's cells add up to its total
_PEOPLE = """
SELECT
    argMax((county, precinct, congressional_district),
        (precinct IS NOT NULL) * 4 + (county IS NOT NULL) * 2 + (congressional_district IS NOT NULL)
    ) AS geo,
    argMax((race, race_source), race IS NOT NULL) AS r,
    argMax((ethnicity, ethnicity_source), ethnicity IS NOT NULL) AS e,
    any(sex) AS sex_, any(age_band) AS age_, max(is_contact) AS contacted
FROM coalition_contacts
WHERE {where}
GROUP BY key_id, person_pseudonym
"""

AGGREGATES = """
SELECT g.1 AS dimension, g.2 AS parent, g.3 AS value, g.4 AS source,
    count() AS people, sum(contacted) AS contacted
FROM ({people})
ARRAY JOIN [
    ('county', '', coalesce(geo.1, 'unknown'), ''),
    ('precinct', coalesce(geo.1, 'unknown'), coalesce(geo.2, 'unknown'), ''),
    ('congressional_district', '', coalesce(geo.3, 'unknown'), ''),
    ('race', '', coalesce(r.1, 'unknown'), coalesce(r.2, 'unknown')),
    ('ethnicity', '', coalesce(e.1, 'unknown'), coalesce(e.2, 'unknown')),
    ('sex', '', coalesce(sex_, 'unknown'), ''),
    ('age_band', '', coalesce(age_, 'unknown'), '')
] AS g
GROUP BY dimension, parent, value, source
ORDER BY dimension, parent, value, source
"""


def coalition_aggregates(
    store: StoreAccess,
    k: int,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> Protected:
    """People the coalition (us and every partner) reached in [start, end), by county,
    precinct (within its county), congressional district, race and ethnicity (with their
    source), sex and age band; groups under ``k`` people suppressed, with complementary
    suppression in each table (a dimension; precincts per county). ``people`` counts distinct
    person pseudonyms (a pseudonym per key period: a person reached in two periods counts in
    each), ``contacted`` those with a contact result."""
    where = ["1"]
    if start is not None:
        where.append(f"occurred_at >= {datetime64(start)}")
    if end is not None:
        where.append(f"occurred_at < {datetime64(end)}")
    sql = AGGREGATES.format(people=_PEOPLE.format(where=" AND ".join(where)))
    columns, rows = store.query(sql)
    records = [dict(zip(columns, r, strict=True)) for r in rows]
    for r in records:
        r["people"], r["contacted"] = int(r["people"]), int(r["contacted"])
    return protect(
        records,
        count="people",
        k=k,
        by=["value", "source"],
        within=["dimension", "parent"],
        also=["contacted"],
    )
