"""Render the HTML report to a PNG with headless Chromium (Debian's ``chromium`` package).

Why Chromium and not a Python renderer: the page is plain HTML, CSS grid and inline SVG, and
a browser draws it exactly as a reader will see it. Usage::

    python -m fieldstream.report_png report.html report.png [--width 1400]

Chromium's command line cannot size the window to the page, so the screenshot is taken tall
(``MAX_HEIGHT``) and its empty bottom trimmed with Pillow (a matplotlib dependency).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from core.errors import FieldstreamError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MAX_HEIGHT = 16_000  # px: Chromium's screenshots get unreliable beyond ~16k


class RenderError(FieldstreamError):
    """Chromium is missing or failed to draw the page."""


def find_chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise RenderError("no Chromium found: install it (Debian: apt-get install -y chromium)")


def _screenshot(browser: str, html: Path, out: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory(prefix="fs-chromium-") as profile:
        cmd = [
            browser,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--force-device-scale-factor=1",
            f"--user-data-dir={profile}",
            f"--screenshot={out}",
            f"--window-size={width},{height}",
            html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RenderError(f"Chromium did not finish: {exc}") from exc
    if done.returncode != 0 or not out.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RenderError(f"Chromium failed ({done.returncode}): {' | '.join(tail)}")


def _trim(png: Path, background: tuple[int, int, int] = (244, 245, 247)) -> int:
    """Cut the page's empty bottom (the window was taller than the page); the new height."""
    # imported here: only --png needs Pillow
    from PIL import Image, ImageChops

    with Image.open(png) as img:
        rgb = img.convert("RGB")
    diff = ImageChops.difference(rgb, Image.new("RGB", rgb.size, background))
    box = diff.getbbox()
    bottom = min(rgb.height, (box[3] if box else rgb.height) + 16)
    rgb.crop((0, 0, rgb.width, bottom)).save(png, optimize=True)
    return bottom


def render_png(html: Path, out: Path, width: int = 1400, height: int = MAX_HEIGHT) -> Path:
    """Screenshot ``html`` at ``width`` px into ``out``, as tall as the page (up to
    ``height``)."""
    if not html.exists():
        raise RenderError(f"{html} does not exist")
    out.parent.mkdir(parents=True, exist_ok=True)
    _screenshot(find_chromium(), html, out, width, height)
    _trim(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1400)
    args = parser.parse_args(argv)
    try:
        render_png(args.html, args.png, args.width)
    except RenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
