"""Initial metadata schema: tenants, API keys, warehouse commits, ingestion ledger.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("roles", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "warehouse_commits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(128), nullable=True),
        sa.Column("table_versions", sa.JSON, nullable=False),
        sa.Column("changed_tables", sa.JSON, nullable=False),
    )
    op.create_index("ix_warehouse_commits_tenant_id", "warehouse_commits", ["tenant_id"])
    op.create_index("ix_warehouse_commits_created_at", "warehouse_commits", ["created_at"])
    op.create_table(
        "ingest_batches",
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("batch_id", sa.String(128), primary_key=True),
        sa.Column("dataset", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("commit_id", sa.Integer, sa.ForeignKey("warehouse_commits.id"), nullable=True),
        sa.Column("report", sa.JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ingest_batches")
    op.drop_table("warehouse_commits")
    op.drop_table("api_keys")
    op.drop_table("tenants")
