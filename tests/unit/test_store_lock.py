"""The store's lock: re-entrant, and the sink's inserts go before statements waiting without."""

from __future__ import annotations

import threading
import time

import pytest

from sinks.store import LockedStore, StoreLock


def wait_until(check, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.005)


def test_the_holder_takes_it_again_and_others_wait_for_the_last_release():
    lock = StoreLock()
    got = threading.Event()
    with lock:
        with lock:  # a rewrite holds it over DELETE + INSERT
            other = threading.Thread(target=lambda: (lock.acquire(), got.set(), lock.release()))
            other.start()
        assert not got.wait(0.1)  # still held once
    other.join(5)
    assert got.is_set()


def test_an_urgent_caller_goes_before_those_already_waiting():
    lock = StoreLock()
    order: list[str] = []
    waiting: list[str] = []

    def take(name: str, urgent: bool) -> None:
        waiting.append(name)
        if urgent:
            with lock.urgent():
                order.append(name)
        else:
            with lock:
                order.append(name)

    lock.acquire()  # the keeper, mid-pass
    plain = threading.Thread(target=take, args=("keeper's next statement", False))
    plain.start()
    wait_until(lambda: "keeper's next statement" in waiting)
    insert = threading.Thread(target=take, args=("insert", True))
    insert.start()
    wait_until(lambda: lock._urgent_waiting == 1)
    lock.release()
    plain.join(5)
    insert.join(5)
    assert order == ["insert", "keeper's next statement"]


def test_only_the_holder_releases():
    lock = StoreLock()
    lock.acquire()
    errors: list[Exception] = []

    def release() -> None:
        try:
            lock.release()
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=release)
    t.start()
    t.join(5)
    assert errors and "does not hold" in str(errors[0])
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()


def test_it_answers_like_a_lock_when_it_cannot_wait():
    lock = StoreLock()
    taken: list[bool] = []
    with lock:
        t = threading.Thread(
            target=lambda: taken.extend([lock.acquire(blocking=False), lock.acquire(timeout=0.05)])
        )
        t.start()
        t.join(5)
    assert taken == [False, False]
    assert lock.acquire(blocking=False)  # free again
    lock.release()


class Client:
    """A client that records the statements it runs (what a LockedStore hands it)."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def command(self, sql: str, settings: dict | None = None) -> None:
        self.ran.append(sql)


def test_a_client_beside_runs_while_the_other_is_busy_and_atomic_sections_exclude_each_other():
    sink = LockedStore(Client())
    keeper = sink.beside(Client())
    assert keeper.lock is not sink.lock and keeper.fence is sink.fence
    assert keeper.background().fence is sink.fence
    # a keeper statement under way (its client's lock held) does not hold up the sink's
    with keeper.lock:
        ran = threading.Thread(target=lambda: sink.command("INSERT 1"))
        ran.start()
        ran.join(5)
        assert not ran.is_alive() and sink.client.ran == ["INSERT 1"]
    # an atomic section of one client holds back another's, on the other client as well
    entered = threading.Event()

    def section() -> None:
        with sink.atomic():
            entered.set()

    with keeper.atomic():
        other = threading.Thread(target=section)
        other.start()
        assert not entered.wait(0.1)
    other.join(5)
    assert entered.is_set()


def test_background_statements_run_on_one_thread_at_the_niceness_asked():
    store = LockedStore(Client(), settings={"max_memory_usage": 1})
    assert store.background().settings == {"max_memory_usage": 1, "max_threads": 1}
    assert store.background(10).settings == {
        "max_memory_usage": 1,
        "max_threads": 1,
        "os_thread_priority": 10,
    }
