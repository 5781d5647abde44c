"""Soak: the fault drill of tests/integration/test_faults.py, for longer and at random.

    .venv/bin/python -m bench.soak [--minutes 10] [--rate 150] [--seed 1]

``fieldstream up`` runs the embedded stack; a sender that retries like a webhook sender keeps
``--rate`` events/s (a share refused by the stream, a share sent twice); every 20-40 s one fault
is drawn at random: SIGKILL of the stream, the sink, the gateway, the broker (while the stream
is stopped: acknowledged events only in the broker) or ``up`` itself, the store down for 15 s,
or a clean stop and start. After each, every figure is recounted against what the sender saw
acknowledged. Prints one row per fault: events acknowledged so far, lost, double counted, and
dead letters against refused events (the first three must read 0, the last equal).
"""

from __future__ import annotations

import argparse
import random
import signal
import tempfile
import time
from pathlib import Path

from tests.factories.drill import DrillStack, Sender, recount, running_drill

FAULTS = ("stream", "sink", "gateway", "tansu", "up", "store", "restart")


def inject(stack: DrillStack, sender: Sender, fault: str) -> None:
    if fault in ("stream", "sink", "gateway"):
        old = stack.kill(fault)
        stack.wait_restarted(fault, old)
    elif fault == "tansu":
        stack.kill("stream", signal.SIGSTOP)
        time.sleep(3)
        old = stack.kill("tansu")
        stack.wait_restarted("tansu", old)
    elif fault == "up":
        stack.kill("stream", signal.SIGSTOP)
        time.sleep(3)
        sender.pause()
        stack.kill_up()
        stack.start()
        sender.resume()
    elif fault == "store":
        fault_file = stack.settings.sink.fault_file
        assert fault_file is not None
        fault_file.touch()
        time.sleep(15)
        fault_file.unlink()
    elif fault == "restart":
        sender.pause()
        stack.stop()
        stack.start()
        sender.resume()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=150.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with (
        tempfile.TemporaryDirectory(prefix="fieldstream-soak-") as tmp,
        running_drill(Path(tmp) / "data", rate=args.rate, seed=args.seed) as (stack, sender),
    ):
        sender.start()
        end = time.monotonic() + args.minutes * 60
        print("fault | acked | lost | double counted | board mismatches | dead letters/refused")
        failures = 0
        while time.monotonic() < end:
            time.sleep(rng.uniform(20, 40))
            fault = rng.choice(FAULTS)
            inject(stack, sender, fault)
            time.sleep(3)
            sender.pause()
            r = recount(stack, sender.ledger)
            sender.resume()
            failures += not r.exact
            print(
                f"{fault} | {r.acked} | {r.lost} | {r.double_counted} | "
                f"{len(r.board_mismatches)} | {r.dead_letters}/{r.rejected}",
                flush=True,
            )
    led = sender.ledger  # the sender has finished: its figures are final
    print(
        f"sender: {led.requests} requests, {led.retries} retried, {led.resent} batches "
        f"sent again; {failures} recounts differed"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
