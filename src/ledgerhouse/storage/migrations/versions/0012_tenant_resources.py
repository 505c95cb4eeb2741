"""Per-tenant resource overrides and metered usage.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_resources",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("duckdb_memory_limit", sa.String(32), nullable=True),
        sa.Column("duckdb_threads", sa.Integer, nullable=True),
        sa.Column("query_concurrency", sa.Integer, nullable=True),
        sa.Column("query_queue", sa.Integer, nullable=True),
        sa.Column("query_row_limit", sa.Integer, nullable=True),
        sa.Column("storage_quota_bytes", sa.BigInteger, nullable=True),
        sa.Column("rate_limit_per_s", sa.Float, nullable=True),
        sa.Column("rate_limit_burst", sa.Integer, nullable=True),
        sa.Column("result_cache_bytes", sa.BigInteger, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "tenant_usage",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("queries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("query_errors", sa.Integer, nullable=False, server_default="0"),
        sa.Column("throttled", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rows_returned", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("bytes_scanned", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cpu_seconds", sa.Float, nullable=False, server_default="0"),
        sa.Column("ingest_batches", sa.Integer, nullable=False, server_default="0"),
        sa.Column("ingested_rows", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("storage_bytes", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("tenant_usage")
    op.drop_table("tenant_resources")
