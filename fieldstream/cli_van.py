"""``fieldstream van codes``: a source's VAN codes file from VAN's own lookups.

Give the lookups as saved JSON (``--from DIR`` with resultCodes.json, contactTypes.json,
inputTypes.json, surveyQuestions.json, activistCodes.json, or one JSON object with those
keys), or fetch them with ``--fetch`` using the org's VAN application name and API key (the
settings ``FIELDSTREAM_VAN__API_KEYS``). Prints what it could not map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from core.errors import ConfigError
from core.van_client import basic_auth
from fieldstream.cli_common import cli_settings
from producers.tools.van.lookups import LOOKUPS, build_codes, read_lookups, render_codes

van_app = typer.Typer(help=__doc__, no_args_is_help=True)
console = Console(stderr=True)
PATHS = {
    "resultCodes": "/canvassResponses/resultCodes",
    "contactTypes": "/canvassResponses/contactTypes",
    "inputTypes": "/canvassResponses/inputTypes",
    "surveyQuestions": "/surveyQuestions",
    "activistCodes": "/activistCodes",
}


def fetch_lookups(base_url: str, auth: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """GET the five lookups (following ``nextPageLink`` on the paged ones)."""
    out: dict[str, Any] = {}
    with httpx.Client(timeout=timeout_s, headers={"Authorization": auth}) as client:
        for name in LOOKUPS:
            url: str | None = base_url.rstrip("/") + PATHS[name] + "?$top=200"
            pages: list[Any] = []
            while url:
                try:
                    r = client.get(url)
                except httpx.HTTPError as exc:
                    raise ConfigError(f"VAN lookup {name} failed: {exc}") from exc
                if r.status_code != 200:
                    raise ConfigError(f"VAN lookup {name} answered {r.status_code}: {r.text[:300]}")
                data = r.json()
                pages.append(data)
                url = data.get("nextPageLink") if isinstance(data, dict) else None
            out[name] = pages if len(pages) > 1 else pages[0]
    return out


@van_app.command()
def codes(
    out: Annotated[Path, typer.Option("--out", help="the codes file to write (YAML)")],
    source: Annotated[str, typer.Option(help="the source the file is for (named in it)")],
    from_: Annotated[Path | None, typer.Option("--from", help="saved lookups")] = None,
    fetch: Annotated[str | None, typer.Option(help="fetch for this org (its VAN key)")] = None,
    app_name: Annotated[str | None, typer.Option(help="VAN application name (--fetch)")] = None,
    mode: Annotated[int, typer.Option(help="VAN database mode: 0 My Voters, 1 My Campaign")] = 0,
) -> None:
    """Write a source's codes file from VAN's lookups; print what remains unmapped."""
    if (from_ is None) == (fetch is None):
        raise typer.BadParameter("give exactly one of --from and --fetch")
    if from_ is not None:
        lookups = read_lookups(from_)
    else:
        settings = cli_settings()
        key = settings.van.api_keys.get(fetch or "")
        if key is None or not app_name:
            raise typer.BadParameter("--fetch needs --app-name and the org's key in settings")
        lookups = fetch_lookups(settings.van.base_url, basic_auth(app_name, key, mode))
    built = build_codes(lookups)
    out.write_text(render_codes(built, f"VAN codes for source {source}, from VAN's lookups"))
    console.print(f"wrote {out}")
    for u in built.unmapped:
        console.print(f"  not mapped: {u.section} {u.van_id} {u.name!r}: {u.why}")
    for name in built.missing:
        console.print(f"  not built: no {name} lookup given")
