"""docs/getting-started.md, run top to bottom from an empty directory (a fresh data directory).

The page is parsed, not copied, so the page and this test cannot drift apart:

- a fenced block right after a line ending in "Save as `PATH`:" is written to PATH;
- a ```bash block is run with bash (``-euo pipefail``), in order, from the empty directory,
  with this clone's ``.venv/bin`` on PATH; the block of the paragraph that begins "In a second
  terminal" is started in the background and the test waits for the gateway to answer;
- a ```text block right after a line "prints:" is the exact output of the bash block before
  it: the test runs that block again (up to two minutes) until it prints exactly that, since
  the pipeline takes a moment to land what was sent;
- a block right after ``<!-- doc-test: skip ... -->`` is not run (cloning, activating the
  environment, a Mobilize account).

Only the addresses differ from the page: the gateway's 127.0.0.1:8080 becomes a free port, and
the broker, sink and stream get free ports through FIELDSTREAM_* settings, so the test never
meets another fieldstream on this machine.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from fieldstream.embedded import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "getting-started.md"
PAGE_GATEWAY = "127.0.0.1:8080"
SAVE_AS = re.compile(r"Save as `([^`]+)`:\s*$")


@dataclass
class Block:
    kind: str  # "file", "run", "background", "prints"
    text: str
    line: int  # where the block starts in the page (for failure messages)
    path: str = ""


def blocks(page: str) -> list[Block]:
    """The page's blocks, in order, with what the test does with each."""
    out: list[Block] = []
    lines = page.splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        lang, start = fence.group(1), i
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        text = "\n".join(lines[start + 1 : end]) + "\n"
        before = [ln for ln in lines[:start] if ln.strip()]
        lead = before[-1] if before else ""
        paragraph = _paragraph(lines, start)
        i = end + 1
        if lead.startswith("<!-- doc-test: skip"):
            continue
        saved = SAVE_AS.search(lead)
        if saved:
            out.append(Block("file", text, start + 1, saved.group(1)))
        elif lang == "bash":
            kind = "background" if paragraph.startswith("In a second terminal") else "run"
            out.append(Block(kind, text, start + 1))
        elif lang == "text" and lead.strip() == "prints:":
            out.append(Block("prints", text, start + 1))
    return out


def _paragraph(lines: list[str], start: int) -> str:
    """The text paragraph right before the block at ``start``."""
    j = start - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    end = j
    while j >= 0 and lines[j].strip():
        j -= 1
    return " ".join(ln.strip() for ln in lines[j + 1 : end + 1])


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSTREAM_")}
    env["PATH"] = f"{REPO / '.venv' / 'bin'}:{env.get('PATH', '')}"
    env["FIELDSTREAM_KAFKA__BOOTSTRAP_SERVERS"] = f"127.0.0.1:{free_port()}"
    env["FIELDSTREAM_GATEWAY__PORT"] = str(free_port())
    env["FIELDSTREAM_STREAM__WEB_PORT"] = str(free_port())
    env["FIELDSTREAM_SINK__QUERY_PORT"] = str(free_port())
    env["COLUMNS"] = "200"
    yield work, env


def run(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_getting_started_page_runs_as_written(
    workdir: tuple[Path, dict[str, str]],
) -> None:
    work, env = workdir
    gateway = f"127.0.0.1:{env['FIELDSTREAM_GATEWAY__PORT']}"
    steps = blocks(DOC.read_text(encoding="utf-8"))
    kinds = [b.kind for b in steps]
    # what the page must keep doing: write its config files, start fieldstream, send, check
    assert kinds.count("background") == 1 and kinds.count("prints") >= 5
    assert {"var/programs.yaml", "var/sources.yaml", "var/van-codes.yaml"} <= {
        b.path for b in steps
    }
    background: subprocess.Popen[str] | None = None
    last: Block | None = None
    try:
        for block in steps:
            script = block.text.replace(PAGE_GATEWAY, gateway)
            if block.kind == "file":
                target = work / block.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.text)
                target.chmod(0o600)  # as a reader's umask 077 would (sources.yaml: secrets)
            elif block.kind == "background":
                log = (work / "up.log").open("w")
                background = subprocess.Popen(
                    ["bash", "-c", f"exec {script.strip()}"],
                    cwd=work,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    text=True,
                )
                _wait_healthy(f"http://{gateway}/healthz", background, work / "up.log")
            elif block.kind == "run":
                done = run(script, work, env)
                assert done.returncode == 0, _failed(block, done)
                last = block
            else:
                assert last is not None, f"line {block.line}: 'prints:' follows no command"
                _until_prints(last, block, work, env, gateway)
    finally:
        if background is not None and background.poll() is None:
            os.killpg(background.pid, signal.SIGTERM)
            try:
                background.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(background.pid, signal.SIGKILL)
    assert background is not None and background.returncode == 0  # it stopped cleanly
    # the data directory is the page's var/, and nothing was written beside the exports
    assert (work / "var" / "chdb").is_dir() and (work / "var" / "imports").is_dir()


def _until_prints(
    command: Block, expected: Block, work: Path, env: dict[str, str], gateway: str
) -> None:
    deadline = time.monotonic() + 120
    script = command.text.replace(PAGE_GATEWAY, gateway)
    while True:
        done = run(script, work, env)
        if done.returncode == 0 and done.stdout == expected.text:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the command at line {command.line} of {DOC.name} did not print what line "
                f"{expected.line} says.\nexpected:\n{expected.text}\ngot:\n{done.stdout}"
                f"\nstderr:\n{done.stderr[-2000:]}"
            )
        time.sleep(1)


def _failed(block: Block, done: subprocess.CompletedProcess[str]) -> str:
    return (
        f"the command at line {block.line} of {DOC.name} exited {done.returncode}\n"
        f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    )


def _wait_healthy(url: str, proc: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"fieldstream up exited:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the gateway never answered:\n{log.read_text()[-3000:]}")
