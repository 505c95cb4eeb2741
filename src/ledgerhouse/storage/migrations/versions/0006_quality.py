"""Data-quality checks and their results per commit.

``quality_checks``: the checks a tenant added (built-in and cube-folder checks are files).
``quality_results``: every check's verdict on every commit, or on a batch it rejected.
``ingest_batches.status`` widens to 32 characters for ``rejected_by_quality``.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_checks",
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("relation", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "quality_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("check_name", sa.String(128), nullable=False),
        sa.Column("relation", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failing", sa.Integer, nullable=False),
        sa.Column("rows_checked", sa.Integer, nullable=False),
        sa.Column("observed", sa.Float, nullable=True),
        sa.Column("sample", sa.JSON, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("commit_id", sa.Integer, nullable=True),
        sa.Column("batch_id", sa.String(128), nullable=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_index(
        "ix_quality_results_tenant_check", "quality_results", ["tenant_id", "check_name", "id"]
    )
    op.create_index(
        "ix_quality_results_tenant_relation", "quality_results", ["tenant_id", "relation", "id"]
    )
    with op.batch_alter_table("ingest_batches") as batch:
        batch.alter_column(
            "status", existing_type=sa.String(16), type_=sa.String(32), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ingest_batches") as batch:
        batch.alter_column(
            "status", existing_type=sa.String(32), type_=sa.String(16), existing_nullable=False
        )
    op.drop_index("ix_quality_results_tenant_relation", "quality_results")
    op.drop_index("ix_quality_results_tenant_check", "quality_results")
    op.drop_table("quality_results")
    op.drop_table("quality_checks")
