"""The ledger keeper: a thread of the sink that keeps everything derived from contact_events right.

Every ``keeper_interval_s`` (or, after a pass that took longer, as long again: it leaves at least
half of the store to the sink's inserts, which also go first at the store's lock, sinks/store.py)
it reads what the sink stored since its last pass (contact_inbox,
in insertion order; ``keeper_overlap_s`` of it again, since a slow insert can become visible
after a faster later one: every step is idempotent) and

1. applies new corrections, and every standing correction to the new contacts
   (sinks/corrections.py), and folds new contacts into their copy from another path
   (sinks/folds.py): contacts to suppress; notes the cells whose contacts quality now holds
   out or lets count again (a flag quarantined, approved or voided), and new contacts inside a
   held flag's window (:func:`quality_step`);
2. numbers the new people and adds them to the reach bitmaps, finalises the cells and
   five-minute buckets they touched (sinks/board_tables.py);
3. recounts from the ledger every cell whose contacts were suppressed or came back, every
   cell holding a suppressed contact that was stored again, and every cell the sink's heal
   fed again (:meth:`Keeper.healed`; sinks/heal.py) (sinks/cells.py);
4. builds the coverage groups of newly loaded universes (sinks/coverage.py) and redoes the goal
   forecasts (sinks/forecast_table.py) every ``forecast_interval_s``;
5. after its first pass and then every ``verify_interval_s``, recounts every figure the boards
   show from contact_events
   (sinks/verify.py), repairs what differs and exports the difference as a metric.

Its marks (how far it has read) are in keeper_state, so a restarted sink resumes; a store with
no mark (new, or migrated from before the keeper) is finalised whole first.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from core.errors import FieldstreamError
from core.metrics import Metrics
from sinks import board_tables, cells, corrections, coverage, folds, forecast_table, verify
from sinks.cells import Cell
from sinks.ledger import HELD_FLAGS, quality_held_sql
from sinks.rows import Record
from sinks.sql import datetime64, string_literal
from sinks.store import LockedStore
from sinks.zones import ProgramClock, sync_zones

log = logging.getLogger(__name__)

WATERMARK = "inbox_watermark"
MAX_ROWS = 200_000  # inbox rows per pass; the rest waits for the next


class KeeperMetrics(Metrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.cycle_seconds = self.histogram(
            "fieldstream_keeper_cycle_seconds",
            "Time of one pass of the ledger keeper",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.lag = self.gauge(
            "fieldstream_keeper_lag_seconds",
            "Seconds between now and the newest stored contact the boards' tables include",
        )
        self.recounted = self.counter(
            "fieldstream_keeper_cells_recounted",
            "Cells (org, campaign, local day) recounted from the ledger, by why",
            ["reason"],
        )
        self.suppressed = self.gauge(
            "fieldstream_suppressed_contacts",
            "Stored contacts that count nowhere, by why (void, fold), at the last verify",
            ["kind"],
        )
        self.drift = self.gauge(
            "fieldstream_verify_differences",
            "Figures the boards read that differ from a recount of contact_events, by table "
            "(before the last verify repaired them)",
            ["table"],
        )
        self.verified_at = self.gauge(
            "fieldstream_verify_last_run_timestamp_seconds", "Unix time of the last verify"
        )
        self.failures = self.counter(
            "fieldstream_keeper_failures", "Keeper passes that failed (retried next pass)"
        )


@dataclass
class Pass:
    """What one pass did."""

    rows: int = 0
    numbered: int = 0
    cells: set[Cell] = field(default_factory=set)
    recounted: dict[str, set[Cell]] = field(default_factory=lambda: defaultdict(set))
    announced: list[Record] = field(default_factory=list)  # Suppression records to publish
    watermark: dt.datetime | None = None


Step = Callable[["Keeper", str | None, Pass, dt.datetime], None]
"""step(keeper, the inbox rows of this pass as SQL (None: nothing new), what it did, now)."""


class Keeper:
    """Keeps the derived tables of one store; :meth:`run_pass` does one pass (tests call it)."""

    def __init__(
        self,
        store: LockedStore,
        clock: ProgramClock,
        *,
        interval_s: float = 2.0,
        overlap_s: float = 10.0,
        verify_interval_s: float = 600.0,
        forecast_interval_s: float = 60.0,
        metrics: KeeperMetrics | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.interval_s = interval_s
        self.overlap = dt.timedelta(seconds=overlap_s)
        self.verify_interval_s = verify_interval_s
        self.forecast_interval_s = forecast_interval_s
        self.metrics = metrics or KeeperMetrics()
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.steps: list[Step] = [corrections_step, folds_step, quality_step]  # first
        self._healed: set[Cell] = set()
        self._healed_lock = threading.Lock()
        self.after: list[Step] = [universes_step]
        # the first verify follows the first pass: drift a crash left (a view that missed a
        # block) shows at once, and the drift metric has a value from the start
        self.last_verify: float | None = None
        self.last_forecast = 0.0
        self.universes_at = 0.0  # when the voter file was last looked at (monotonic)
        self.universe_loads = ""  # the universes table as last seen (count, newest load)
        self.verify: Callable[[Keeper], None] | None = None  # see periodic_verify
        self.publish: Callable[[list[Record]], None] | None = None  # Suppression records
        self.forecast: Callable[[Keeper, dt.datetime], None] | None = forecasts

    # --- marks ------------------------------------------------------------------------
    def state(self, key: str) -> str:
        rows = self.store.rows(
            f"SELECT argMax(value, updated_at) FROM keeper_state WHERE key = {string_literal(key)}"
        )
        return str(rows[0][0]) if rows and rows[0][0] else ""

    def set_state(self, key: str, value: str) -> None:
        self.store.insert(
            "keeper_state", ["key", "value", "updated_at"], [[key, value, dt.datetime.now(dt.UTC)]]
        )

    def watermark(self) -> dt.datetime | None:
        text = self.state(WATERMARK)
        return dt.datetime.fromisoformat(text) if text else None

    def set_watermark(self, at: dt.datetime) -> None:
        self.set_state(WATERMARK, at.isoformat())

    def announce(self, records: list[Record]) -> None:
        """Publish Suppression records (the exchange retracts them from partners)."""
        if records and self.publish is not None:
            try:
                self.publish(records)
            except FieldstreamError as exc:  # announced again when the keeper next starts
                log.error("could not publish %d suppression(s): %s", len(records), exc)

    def healed(self, found: set[Cell]) -> None:
        """Cells whose rollups the sink fed again (sinks/heal.py, from its consumer thread):
        the next pass recounts them from the ledger, so the board tables follow and a
        suppressed contact the heal fed is taken out again."""
        with self._healed_lock:
            self._healed |= found

    # --- passes ---------------------------------------------------------------------
    def start_up(self) -> None:
        """Put zones right, and finalise everything when the store has no mark yet."""
        sync_zones(self.store, self.clock.programs)
        for name in cells.drop_stale_stages(self.store):
            log.warning("dropped %s, a recount's staging table left by a process that died", name)
        if self.watermark() is None:
            newest = self.store.rows("SELECT max(inserted_at) FROM contact_inbox")
            mark = newest[0][0] if newest and newest[0][0] else None
            campaigns = self.store.rows(
                "SELECT DISTINCT toString(org_id), toString(campaign_id) FROM contact_events"
            )
            if campaigns:
                log.info(
                    "no keeper mark: finalising %d campaign(s) from the ledger", len(campaigns)
                )
                cells.rewrite(
                    self.store,
                    [],
                    self.clock.zone_of,
                    whole=[(str(o), str(c)) for o, c in campaigns],
                )
            at = _aware(mark) if mark is not None else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
            self.set_watermark(at)
        self.announce(corrections.announced(self.store))

    def run_pass(self, now: dt.datetime | None = None) -> Pass:
        """One pass over what was stored since the last (see the module doc)."""
        t0 = time.perf_counter()
        now = now or dt.datetime.now(dt.UTC)
        done = Pass()
        if self.clock.refresh():
            sync_zones(self.store, self.clock.programs)
        mark = self.watermark() or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        window = (
            f"SELECT * FROM contact_inbox WHERE inserted_at > {datetime64(mark - self.overlap)}"
        )
        top = self.store.rows(
            f"SELECT count(), max(inserted_at) FROM (SELECT inserted_at FROM ({window}) "
            f"ORDER BY inserted_at LIMIT {MAX_ROWS})"
        )
        done.rows = int(top[0][0]) if top else 0
        newest = _aware(top[0][1]) if done.rows else None
        if newest is not None:
            window += f" AND inserted_at <= {datetime64(newest)}"
        for step in self.steps:
            step(self, window if newest is not None else None, done, now)
        if newest is not None:
            counted = (
                f"{window} AND (org_id, campaign_id, event_id) NOT IN "
                "(SELECT org_id, campaign_id, event_id FROM suppressed_events) "
                f"AND event_id NOT IN ({quality_held_sql(window)})"
            )
            done.numbered = board_tables.number_people(self.store, counted)
            board_tables.add_reach(self.store, counted)
            self._finalise(window, done)
            self._stored_again(f"{window} AND inserted_at > {datetime64(mark)}", done)
        with self._healed_lock:
            healed, self._healed = self._healed, set()
        done.recounted["healed"] |= healed
        self._recount(done)
        self.announce(done.announced)
        for step in self.after:
            step(self, None, done, now)
        if self.forecast is not None and time.monotonic() - self.last_forecast >= (
            self.forecast_interval_s
        ):
            self.forecast(self, now)
            self.last_forecast = time.monotonic()
        if newest is not None:
            self.set_watermark(max(newest, mark))
            done.watermark = newest
            self.metrics.lag.set(max(0.0, (now - newest).total_seconds()))
        self.metrics.cycle_seconds.observe(time.perf_counter() - t0)
        return done

    def _finalise(self, window: str, done: Pass) -> None:
        touched = self.store.rows(
            "SELECT toString(org_id), toString(campaign_id), groupUniqArray(local_day), "
            "groupUniqArray(toStartOfFiveMinutes(occurred_at)) "
            f"FROM ({window}) GROUP BY org_id, campaign_id"
        )
        for org, campaign, days, buckets in touched:
            board_tables.finalise_buckets(self.store, org, campaign, [_aware(b) for b in buckets])
            board_tables.finalise_days(self.store, org, campaign, list(days))
            done.cells.update(Cell(org, campaign, d) for d in days)

    def _stored_again(self, window: str, done: Pass) -> None:
        """Cells where a suppressed contact was stored again since the last pass: the views
        counted it."""
        again = self.store.rows(
            "SELECT DISTINCT toString(org_id), toString(campaign_id), local_day "
            f"FROM ({window}) WHERE (org_id, campaign_id, event_id) IN "
            "(SELECT org_id, campaign_id, event_id FROM suppressed_events)"
        )
        done.recounted["stored again"].update(Cell(o, c, d) for o, c, d in again)

    def _recount(self, done: Pass) -> None:
        todo: set[Cell] = set().union(*done.recounted.values()) if done.recounted else set()
        if not todo:
            return
        cells.rewrite(self.store, todo, self.clock.zone_of)
        for reason, found in done.recounted.items():
            self.metrics.recounted.labels(reason).inc(len(found))

    # --- the thread -----------------------------------------------------------------
    def _run(self) -> None:
        try:
            self.start_up()
        except FieldstreamError:
            log.exception("the ledger keeper could not start; boards will not move")
            return
        while not self.stop_event.is_set():
            started = time.monotonic()
            took = 0.0
            try:
                self.run_pass()
                took = time.monotonic() - started
                if (
                    self.verify is not None
                    and self.verify_interval_s > 0
                    and (
                        self.last_verify is None
                        or time.monotonic() - self.last_verify >= self.verify_interval_s
                    )
                ):
                    self.verify(self)
                    self.last_verify = time.monotonic()
            except FieldstreamError:
                self.metrics.failures.inc()
                log.exception("a keeper pass failed; trying again")
            # a long pass (a burst to finalise) is followed by as long a rest: the keeper takes
            # at most half of the store and of its share of the cores from the sink's inserts
            # while contacts pour in (a verify, every verify_interval_s, is not counted: the
            # boards would stand still as long as it took)
            self.stop_event.wait(max(self.interval_s, took))

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="ledger-keeper", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(60)


def periodic_verify(days: int) -> Callable[[Keeper], None]:
    """The sink's own check: verify and repair the last ``days`` local days (0: all), and
    export what differed."""

    def run(keeper: Keeper) -> None:
        since = None if days == 0 else dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
        report = verify.verify(keeper.store, keeper.clock.zone_of, repair=True, since=since)
        for table, n in report.differing.items():
            keeper.metrics.drift.labels(table).set(n)
        for kind, n in keeper.store.rows(
            "SELECT kind, count() FROM contact_suppressions FINAL WHERE active = 1 GROUP BY kind"
        ):
            keeper.metrics.suppressed.labels(str(kind)).set(int(n))
        keeper.metrics.verified_at.set(time.time())

    return run


def corrections_step(keeper: Keeper, window: str | None, done: Pass, now: dt.datetime) -> None:
    """New corrections on every stored contact; every correction on the new contacts."""
    found, changed = corrections.apply_new(keeper.store)
    if window is not None:
        more, changed_more = corrections.apply_standing(keeper.store, window)
        found, changed = found | more, changed + changed_more
    done.recounted["correction"] |= found
    done.announced += changed


def folds_step(keeper: Keeper, window: str | None, done: Pass, now: dt.datetime) -> None:
    """New contacts folded into their copies from another path (and theirs into them)."""
    if window is not None:
        found, changed = folds.fold_new(keeper.store, keeper.clock.programs, window)
        done.recounted["fold"] |= found
        done.announced += changed


QUALITY_HOLDS = "quality_holds"  # keeper_state: the held flags the board tables follow


def quality_step(keeper: Keeper, window: str | None, done: Pass, now: dt.datetime) -> None:
    """Cells to recount because quality holds work out of the counts, or lets it count again:
    the cells of every flag that became held or stopped being held since the last pass (a
    quarantine, an approval, a void: sinks/ddl/020_quality.sql), and the cells of new contacts
    inside a held flag's window."""
    held = {str(r[0]) for r in keeper.store.rows(f"SELECT flag_id FROM ({HELD_FLAGS})")}
    before = {f for f in keeper.state(QUALITY_HOLDS).split(",") if f}
    changed = held ^ before
    if changed:
        flags = (
            "SELECT flag_id, org_id, campaign_id, channel, canvasser_id, first_contact_at, "
            f"last_contact_at FROM quality_flag_status WHERE flag_id IN ({quoted(sorted(changed))})"
        )
        events = (
            "SELECT event_id, org_id, campaign_id, channel, canvasser_id, occurred_at "
            "FROM contact_events"
        )
        found = keeper.store.rows(
            "SELECT DISTINCT toString(org_id), toString(campaign_id), local_day "
            f"FROM contact_events WHERE event_id IN ({quality_held_sql(events, flags)})"
        )
        done.recounted["quality"].update(Cell(o, c, d) for o, c, d in found)
        keeper.set_state(QUALITY_HOLDS, ",".join(sorted(held)))
    if window is not None and held:
        found = keeper.store.rows(
            "SELECT DISTINCT toString(org_id), toString(campaign_id), local_day "
            f"FROM ({window}) WHERE event_id IN ({quality_held_sql(window)})"
        )
        done.recounted["quality"].update(Cell(o, c, d) for o, c, d in found)


def forecasts(keeper: Keeper, now: dt.datetime) -> None:
    forecast_table.refresh(keeper.store, keeper.clock.programs, now)


UNIVERSES_EVERY_S = 30.0


def universes_step(keeper: Keeper, window: str | None, done: Pass, now: dt.datetime) -> None:
    """Coverage groups for universes loaded since the last pass (or, looked at every
    UNIVERSES_EVERY_S, the voter file reloaded)."""
    loads = str(keeper.store.rows("SELECT count(), max(loaded_at) FROM universes")[0])
    due = time.monotonic() - keeper.universes_at >= UNIVERSES_EVERY_S
    if loads == keeper.universe_loads and not due:
        return
    stamp = keeper.state(coverage.STAMP)
    new = coverage.refresh(keeper.store, stamp)
    if new != stamp:
        keeper.set_state(coverage.STAMP, new)
    keeper.universe_loads = loads
    keeper.universes_at = time.monotonic()


def _aware(value: object) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(str(value)).replace(tzinfo=dt.UTC)


def quoted(values: list[str]) -> str:
    return ", ".join(string_literal(v) for v in values)
