"""`ledgerhouse keys ...`: create, list, revoke and rotate a tenant's API keys.

The CLI works on the warehouse directory directly, as the tenant's admin: it can always create
a new admin key, even after the last one was revoked with ``--force``. With ``--json`` each
prints the API's record (GET /v1/keys and the others).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from ledgerhouse.api.schemas.records import KeyRecord, KeyResponse, RotatedKeyResponse
from ledgerhouse.cli.common import Cli, command

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)

KeyIdArg = Annotated[int, typer.Argument(help="The key's id (see `ledgerhouse keys list`).")]


def _when(ts: datetime | None) -> str:
    return ts.isoformat(timespec="seconds") if ts else ""


@command(keys_app, "create")
def keys_create(
    cli: Cli,
    user: Annotated[str, typer.Option("--user", help="Who the key is for.")],
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="reader, writer, admin, steward, auditor or the tenant's own."),
    ] = None,
    attr: Annotated[
        list[str] | None,
        typer.Option("--attr", help="An attribute row policies read, name=value (repeat)."),
    ] = None,
) -> None:
    """Create an API key for a user of a tenant and print it once."""
    from ledgerhouse.cli.access import attributes

    roles = role or ["reader"]
    attrs = attributes(attr or [])
    with cli.warehouse() as wh:
        key = cli.me(wh).create_api_key(user, tuple(roles), attributes=attrs or None)
    cli.out.data(
        KeyResponse(user=user, roles=roles, attributes=attrs, api_key=key),
        f"API key for {user} (shown once): {key}",
    )


@command(keys_app, "list")
def keys_list(
    cli: Cli,
    active: Annotated[bool, typer.Option("--active", help="Only the keys not revoked.")] = False,
) -> None:
    """List a tenant's API keys: id, user, roles, created, last used, revoked (no secrets)."""
    with cli.warehouse() as wh:
        found = [KeyRecord.of(k) for k in cli.me(wh).list_api_keys(active=active)]
    if cli.out.as_json:
        cli.out.json(found)
        return
    cli.out.table(
        ["id", "user", "roles", "created", "last used", "revoked"],
        [
            [
                k.id,
                k.user,
                ",".join(k.roles),
                _when(k.created_at),
                _when(k.last_used_at),
                _when(k.revoked_at),
            ]
            for k in found
        ],
    )


@command(keys_app, "revoke")
def keys_revoke(
    cli: Cli,
    key_id: KeyIdArg,
    force: Annotated[
        bool, typer.Option("--force", help="Revoke it even if it is the last admin key.")
    ] = False,
) -> None:
    """Revoke an API key; a running server refuses it from its next request on."""
    with cli.warehouse() as wh:
        k = KeyRecord.of(cli.me(wh).revoke_api_key(key_id, force=force))
    cli.out.data(k, f"API key {k.id} ({k.user}) revoked at {_when(k.revoked_at)}")


@command(keys_app, "rotate")
def keys_rotate(cli: Cli, key_id: KeyIdArg) -> None:
    """Replace an API key by a new one for the same user and roles (printed once); the old key
    is revoked at once."""
    with cli.warehouse() as wh:
        issued = cli.me(wh).rotate_api_key(key_id)
    k = RotatedKeyResponse.issued(issued, replaces=key_id)
    cli.out.data(
        k,
        f"API key {k.id} for {k.user} replaces key {key_id}, now revoked (shown once): {k.api_key}",
    )
