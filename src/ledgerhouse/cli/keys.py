"""`ledgerhouse keys ...`: create, list, revoke and rotate a tenant's API keys.

The CLI works on the warehouse directory directly, as the tenant's admin: it can always create
a new admin key, even after the last one was revoked with ``--force``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from ledgerhouse.cli.common import JsonOpt, RootOpt, TenantOpt, _run, _warehouse
from ledgerhouse.cli.output import Output

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)

KeyIdArg = Annotated[int, typer.Argument(help="The key's id (see `ledgerhouse keys list`).")]


def _when(ts: datetime | None) -> str:
    return ts.isoformat(timespec="seconds") if ts else ""


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option("--user", help="Who the key is for.")],
    role: Annotated[
        list[str] | None, typer.Option("--role", help="admin, writer or reader.")
    ] = None,
    root: RootOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key for a user of a tenant and print it once."""

    def go(out: Output) -> None:
        with _warehouse(root) as wh:
            key = wh.create_api_key(user, tuple(role or ["reader"]), tenant=tenant)
        out.data(
            {"user": user, "roles": role or ["reader"], "api_key": key},
            f"API key for {user} (shown once): {key}",
        )

    _run(as_json, go)


@keys_app.command("list")
def keys_list(
    active: Annotated[bool, typer.Option("--active", help="Only the keys not revoked.")] = False,
    root: RootOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a tenant's API keys: id, user, roles, created, last used, revoked (no secrets)."""

    def go(out: Output) -> None:
        with _warehouse(root) as wh:
            found = wh.list_api_keys(active=active, tenant=tenant)
        if out.as_json:
            out.json([k.to_dict() for k in found])
            return
        out.table(
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

    _run(as_json, go)


@keys_app.command("revoke")
def keys_revoke(
    key_id: KeyIdArg,
    force: Annotated[
        bool, typer.Option("--force", help="Revoke it even if it is the last admin key.")
    ] = False,
    root: RootOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke an API key; a running server refuses it from its next request on."""

    def go(out: Output) -> None:
        with _warehouse(root) as wh:
            k = wh.revoke_api_key(key_id, force=force, tenant=tenant)
        out.data(k.to_dict(), f"API key {k.id} ({k.user}) revoked at {_when(k.revoked_at)}")

    _run(as_json, go)


@keys_app.command("rotate")
def keys_rotate(
    key_id: KeyIdArg,
    root: RootOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace an API key by a new one for the same user and roles (printed once); the old key
    is revoked at once."""

    def go(out: Output) -> None:
        with _warehouse(root) as wh:
            issued = wh.rotate_api_key(key_id, tenant=tenant)
        k = issued.key
        out.data(
            {**k.to_dict(), "api_key": issued.secret, "replaces": key_id},
            f"API key {k.id} for {k.user} replaces key {key_id}, now revoked "
            f"(shown once): {issued.secret}",
        )

    _run(as_json, go)
