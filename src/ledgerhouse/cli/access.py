"""`ledgerhouse access`, `roles ...`, `grants ...` and `policies ...`: a tenant's access control.

The CLI works on the warehouse directory as the tenant's admin (like `keys`). `policies try`
runs a query as another principal (roles, user, attributes) to see what a policy lets it read.
With ``--json`` each prints the API's record (GET /v1/roles, /v1/grants, /v1/policies).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ledgerhouse.access import ACTION_DEFS
from ledgerhouse.cli.common import Cli, bad, command

roles_app = typer.Typer(help="The tenant's roles (built-in and its own).", no_args_is_help=True)
grants_app = typer.Typer(help="Grants of actions on resources.", no_args_is_help=True)
policies_app = typer.Typer(help="Row and column policies.", no_args_is_help=True)

RoleOpt = Annotated[list[str] | None, typer.Option("--role", help="A role it applies to (repeat).")]
UserOpt = Annotated[list[str] | None, typer.Option("--user", help="A user it applies to (repeat).")]
DescOpt = Annotated[str | None, typer.Option("--description", help="What it is for.")]


def attributes(values: list[str]) -> dict[str, list[str]]:
    """``--attr name=value`` options (repeat a name for several values)."""
    out: dict[str, list[str]] = {}
    for text in values:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise bad(f"--attr {text!r} is not name=value", "e.g. --attr desks=Rates")
        out.setdefault(name.strip(), []).append(value)
    return out


def register(app: typer.Typer) -> None:
    """Add `access`, `roles`, `grants` and `policies` to the CLI."""
    command(app, "access")(access)
    app.add_typer(roles_app, name="roles")
    app.add_typer(grants_app, name="grants")
    app.add_typer(policies_app, name="policies")


def access(cli: Cli) -> None:
    """Show the local caller's access: roles, grants and policies that apply."""
    with cli.warehouse() as wh:
        mine = cli.me(wh).access()
    cli.out.data(mine, None if cli.out.as_json else _mine_text(mine))


def _mine_text(mine: dict[str, Any]) -> str:
    lines = [f"{mine['user']} of {mine['tenant']} ({', '.join(mine['roles'])}, via {mine['via']})"]
    lines += [f"  {g['effect']} {g['action']} on {g['resource']}" for g in mine["grants"]]
    lines += [f"  policy {p['name']} ({p['kind']})" for p in mine["policies"]]
    return "\n".join(lines)


# -- roles ------------------------------------------------------------------------------------
@command(roles_app, "list")
def roles_list(cli: Cli) -> None:
    """List the tenant's roles: the built-in ones and its own."""
    with cli.warehouse() as wh:
        found = cli.me(wh).roles()
    if cli.out.as_json:
        cli.out.json(found)
        return
    cli.out.table(
        ["role", "built in", "description"],
        [[r["name"], "yes" if r["builtin"] else "", r["description"]] for r in found],
    )


@command(roles_app, "create")
def roles_create(
    cli: Cli,
    name: Annotated[str, typer.Argument(help="The role's name (lower case).")],
    description: DescOpt = None,
) -> None:
    """Create a role of the tenant's own: it holds only what is granted to it."""
    with cli.warehouse() as wh:
        made = cli.me(wh).create_role(name, description or "")
    cli.out.data(made, f"role {name} created (grant it actions: `ledgerhouse grants add`)")


@command(roles_app, "drop")
def roles_drop(cli: Cli, name: Annotated[str, typer.Argument(help="The role to drop.")]) -> None:
    """Drop one of the tenant's roles and its grants (refused while a key holds it)."""
    with cli.warehouse() as wh:
        done = cli.me(wh).drop_role(name)
    cli.out.data(done, f"role {name} dropped ({done['grants_removed']} grants removed)")


# -- grants -----------------------------------------------------------------------------------
@command(grants_app, "list")
def grants_list(cli: Cli) -> None:
    """List the tenant's grants."""
    with cli.warehouse() as wh:
        found = cli.me(wh).grants()
    if cli.out.as_json:
        cli.out.json(found)
        return
    cli.out.table(
        ["id", "effect", "action", "on", "to", "by"],
        [[g["id"], g["effect"], g["action"], g["resource"], g["grantee"], g["created_by"]]
         for g in found],
        whole=("id",),
    )  # fmt: skip


@command(grants_app, "add")
def grants_add(
    cli: Cli,
    action: Annotated[str, typer.Option("--action", help="read, export, analyze, ingest, ...")],
    to: Annotated[str, typer.Option("--to", help="role:NAME or user:NAME")],
    on: Annotated[
        str,
        typer.Option(
            "--on", help="tenant, table:NAME, column:TABLE.COLUMN, cube:NAME, analytics[:CALL]"
        ),
    ] = "tenant",
    deny: Annotated[bool, typer.Option("--deny", help="Refuse it (wins over allows).")] = False,
) -> None:
    """Allow (or --deny) an action on a resource to a role or a user."""
    with cli.warehouse() as wh:
        made = cli.me(wh).grant(action, to, on, deny=deny)
    cli.out.data(made, f"grant {made['id']}: {made['effect']} {action} on {on} to {to}")


@command(grants_app, "revoke")
def grants_revoke(
    cli: Cli, grant_id: Annotated[int, typer.Argument(help="The grant's id (grants list).")]
) -> None:
    """Remove one grant."""
    with cli.warehouse() as wh:
        done = cli.me(wh).revoke_grant(grant_id)
    cli.out.data(done, f"grant {grant_id} removed")


@command(grants_app, "actions")
def grants_actions(cli: Cli) -> None:
    """List the actions a grant may name, the resources each applies to, and the built-in
    roles that hold it by default."""
    rows = [
        [a.name, ", ".join(a.kinds), ", ".join(sorted(a.roles)), a.description]
        for a in ACTION_DEFS.values()
    ]
    if cli.out.as_json:
        cli.out.json([dict(zip(["action", "on", "default_roles", "what"], r, strict=True))
                      for r in rows])  # fmt: skip
        return
    cli.out.table(["action", "on", "held by default by", "what"], rows)


# -- policies ---------------------------------------------------------------------------------
@command(policies_app, "list")
def policies_list(cli: Cli) -> None:
    """List the tenant's row and column policies."""
    with cli.warehouse() as wh:
        found = cli.me(wh).policies()
    if cli.out.as_json:
        cli.out.json(found)
        return
    cli.out.table(
        ["name", "kind", "what", "applies to", "version"],
        [[p["name"], p["kind"], _what(p), _whom(p), p["version"]] for p in found],
    )


def _what(p: dict[str, Any]) -> str:
    if p["kind"] == "row":
        return f"{p['dimension']}: {p['predicate']}"
    return f"{p['action']} {p['classification']}" + (
        f" ({p['mask']})" if p["action"] == "mask" else ""
    )


def _whom(p: dict[str, Any]) -> str:
    return ", ".join([*(f"role:{r}" for r in p["roles"]), *(f"user:{u}" for u in p["users"])])


@command(policies_app, "add-row")
def policies_add_row(
    cli: Cli,
    name: Annotated[str, typer.Argument(help="The policy's name.")],
    predicate: Annotated[
        str, typer.Option("--predicate", help='e.g. "desk IN (:desks)" (:name: an attribute)')
    ],
    dimension: Annotated[
        str, typer.Option("--dimension", help="dim_portfolio, dim_instrument, dim_counterparty")
    ] = "dim_portfolio",
    role: RoleOpt = None,
    user: UserOpt = None,
    description: DescOpt = None,
) -> None:
    """Create or replace a row policy: the rows of the dimension's members it allows."""
    spec = {"dimension": dimension, "predicate": predicate, "roles": role or [],
            "users": user or [], "description": description}  # fmt: skip
    with cli.warehouse() as wh:
        made = cli.me(wh).put_policy(name, "row", **spec)
    cli.out.data(made, f"row policy {name} (version {made['version']}): {_what(made)}")


@command(policies_app, "add-column")
def policies_add_column(
    cli: Cli,
    name: Annotated[str, typer.Argument(help="The policy's name.")],
    classification: Annotated[
        str, typer.Option("--classification", help="e.g. confidential, pii, restricted")
    ],
    deny: Annotated[bool, typer.Option("--deny", help="Leave the columns out.")] = False,
    mask: Annotated[str, typer.Option("--mask", help="redact, null or hash")] = "redact",
    role: RoleOpt = None,
    user: UserOpt = None,
    description: DescOpt = None,
) -> None:
    """Create or replace a column policy: mask (or --deny) the classified columns."""
    spec = {"classification": classification, "action": "deny" if deny else "mask",
            "mask": mask, "roles": role or [], "users": user or [],
            "description": description}  # fmt: skip
    with cli.warehouse() as wh:
        made = cli.me(wh).put_policy(name, "column", **spec)
    cli.out.data(made, f"column policy {name} (version {made['version']}): {_what(made)}")


@command(policies_app, "drop")
def policies_drop(cli: Cli, name: Annotated[str, typer.Argument(help="The policy.")]) -> None:
    """Drop one policy."""
    with cli.warehouse() as wh:
        done = cli.me(wh).drop_policy(name)
    cli.out.data(done, f"policy {name} dropped")


@command(policies_app, "try")
def policies_try(
    cli: Cli,
    sql: Annotated[str, typer.Argument(help="One SELECT, run as the principal described.")],
    role: Annotated[list[str], typer.Option("--role", help="Its roles (repeat).")],
    user: Annotated[str, typer.Option("--user", help="Its user name.")] = "policy-try",
    attr: Annotated[
        list[str] | None, typer.Option("--attr", help="An attribute, name=value (repeat).")
    ] = None,
) -> None:
    """Run a query as another principal of the tenant, to see what its policies let it read."""
    from ledgerhouse.access import Principal
    from ledgerhouse.api.schemas.results import sql_answer

    with cli.warehouse() as wh:
        tenant = cli.me(wh).principal.tenant
        who = Principal(tenant, user, tuple(role), attributes(attr or []), via="local")
        res = wh.session(who).query(sql)
    if cli.out.as_json:
        cli.out.json(sql_answer(res))
        return
    cli.out.table([c["name"] for c in res.columns], res.rows())
    policy = res.policy
    cli.out.info(
        "policies: none applied"
        if not policy
        else f"policies: {', '.join(policy['policies'])} · rows filtered in "
        f"{', '.join(policy['row_filtered']) or '-'} · masked "
        f"{', '.join(policy['masked']) or '-'} · left out {', '.join(policy['hidden']) or '-'}"
    )
