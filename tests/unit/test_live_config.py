"""Live configuration: sources.yaml and the codes files it names reload without a restart; each
version is validated whole before it takes effect, and a bad edit is refused (logged) with the
previous version kept. SIGHUP forces a reload."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import yaml

from core.config import load_programs
from core.watch import WatchedFile
from producers.gateway.sources import SourceBook


def touch(path: Path, text: str) -> None:
    """Write ``text`` and move the modification time on (so a same-second edit is seen)."""
    path.write_text(text)
    path.chmod(0o600)  # sources.yaml holds secrets (the umask is 077 only after load_settings)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def write_sources(path: Path, **van: object) -> None:
    source = {"id": "van-app", "org_id": "o", "secrets": ["k"], "tool": "van"} | van
    touch(path, yaml.safe_dump({"sources": [source]}))


def test_a_codes_file_edit_reloads_the_source_that_names_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="core.watch")
    codes, sources = tmp_path / "van-codes.yaml", tmp_path / "sources.yaml"
    touch(codes, "result_codes:\n  901: {name: Came Back, result: not_home}\n")
    write_sources(sources, codes_file="van-codes.yaml")
    book = SourceBook.from_file(sources)
    assert book.context("van-app").options["codes"].result_codes[901].result == "not_home"
    assert book.refresh() is False  # nothing changed

    touch(codes, "result_codes:\n  901: {name: Came Back, result: refused}\n")
    assert book.refresh() is True
    assert book.context("van-app").options["codes"].result_codes[901].result == "refused"
    assert any("sources reloaded" in r.getMessage() for r in caplog.records)


def test_a_broken_edit_is_refused_and_the_previous_version_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    codes, sources = tmp_path / "van-codes.yaml", tmp_path / "sources.yaml"
    touch(codes, "result_codes:\n  901: {name: Came Back, result: not_home}\n")
    write_sources(sources, codes_file="van-codes.yaml")
    book = SourceBook.from_file(sources)

    touch(codes, "result_codes:\n  901: {name: Came Back, result: came_back}\n")  # no such code
    assert book.refresh() is False
    assert book.context("van-app").options["codes"].result_codes[901].result == "not_home"
    refused = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert refused and "came_back" in refused[-1] and "keeping the previous" in refused[-1]
    assert book.refresh() is False  # refused once, not again until the next edit

    write_sources(sources, codes_file="van-codes.yaml", tool="no-such-tool")
    assert book.refresh() is False and book["van-app"].tool == "van"

    write_sources(sources, codes_file="van-codes.yaml", secrets=["k", "k2"])
    touch(codes, "result_codes:\n  901: {name: Came Back, result: refused}\n")
    assert book.refresh() is True
    assert len(book["van-app"].secrets) == 2
    assert book.context("van-app").options["codes"].result_codes[901].result == "refused"


def test_a_new_source_is_served_after_the_reload(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    write_sources(sources)
    book = SourceBook.from_file(sources)
    assert set(book) == {"van-app"}
    data = yaml.safe_load(sources.read_text())
    data["sources"].append({"id": "spoke", "org_id": "o", "secrets": ["s"], "tool": "spoke"})
    touch(sources, yaml.safe_dump(data))
    assert book.refresh() is True and set(book) == {"van-app", "spoke"}
    assert book.context("spoke").source_system == "spoke"


def test_force_reloads_an_unchanged_file(tmp_path: Path) -> None:
    programs = tmp_path / "programs.yaml"
    touch(programs, "orgs: [{id: o, campaigns: [c]}]\n")
    loads: list[Path] = []

    def load(path: Path) -> object:
        loads.append(path)
        return load_programs(path)

    watched = WatchedFile(programs, load, "programs")
    assert watched.refresh() is False and watched.refresh(force=True) is True
    assert len(loads) == 2
