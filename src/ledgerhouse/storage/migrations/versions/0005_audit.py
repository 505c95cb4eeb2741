"""Audit trail (hash-chained) and what each logged query read.

``query_log`` gains ``request`` (a cube or analytics call's request; None for SQL),
``relations`` ({relation: pinned Delta version}) and ``columns`` ({relation: [columns read]}).
``audit_log`` holds each tenant's hash-chained entries, ``audit_heads`` each chain's head.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("query_log") as batch:
        batch.add_column(sa.Column("request", sa.JSON, nullable=True))
        batch.add_column(sa.Column("relations", sa.JSON, nullable=True))
        batch.add_column(sa.Column("columns", sa.JSON, nullable=True))
    op.create_table(
        "audit_log",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("relations", sa.JSON, nullable=True),
        sa.Column("columns", sa.JSON, nullable=True),
        sa.Column("rows", sa.Integer, nullable=True),
        sa.Column("query_id", sa.String(32), nullable=True),
        sa.Column("batch_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON, nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("canonical", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_tenant_at", "audit_log", ["tenant_id", "at"])
    op.create_table(
        "audit_heads",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_heads")
    op.drop_index("ix_audit_log_tenant_at", table_name="audit_log")
    op.drop_table("audit_log")
    with op.batch_alter_table("query_log") as batch:
        batch.drop_column("columns")
        batch.drop_column("relations")
        batch.drop_column("request")
