"""``fieldstream query-token ...``: credentials of the sink's query door (sinks/query_api.py).

An analyst token reads one org's rows; an admin token reads every org and may load goals and
universes. Tokens are shown once, when added, and kept only as hashes in the tokens file
(``FIELDSTREAM_QUERY__TOKENS_FILE``); the running sink picks up changes at its next request.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from fieldstream.cli_common import cli_settings as _settings

tokens_app = typer.Typer(help=__doc__, no_args_is_help=True)
console = Console(stderr=True)


@tokens_app.command("add")
def add(
    token_id: Annotated[str, typer.Argument(help="a name for the token (letters, digits, _ -)")],
    org: Annotated[str | None, typer.Option(help="the org an analyst token reads")] = None,
    admin: Annotated[bool, typer.Option(help="an admin token: every org, and inserts")] = False,
) -> None:
    """Add a token and print it (once: only its hash is kept)."""
    from sinks.query_tokens import add_token

    if admin == (org is not None):
        raise typer.BadParameter("give either --org ORG (an analyst) or --admin")
    path = _settings().query.tokens_file
    token = add_token(path, token_id, "admin" if admin else "analyst", org)
    console.print(f"added {token_id} to {path}; give it as Authorization: Bearer <token>")
    print(token)


@tokens_app.command("list")
def list_tokens() -> None:
    """The tokens' ids, roles and orgs (never the tokens)."""
    from sinks.query_tokens import load_tokens

    for t in load_tokens(_settings().query.tokens_file):
        print(f"{t.id}\t{t.role}\t{t.org or '*'}")


@tokens_app.command("revoke")
def revoke(token_id: str) -> None:
    """Remove a token: the sink refuses it from its next request on."""
    from sinks.query_tokens import revoke_token

    if not revoke_token(_settings().query.tokens_file, token_id):
        raise typer.BadParameter(f"no token {token_id!r} in the tokens file")
    console.print(f"revoked {token_id}")
