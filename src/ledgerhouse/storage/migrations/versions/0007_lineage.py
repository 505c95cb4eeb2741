"""Table and column lineage per commit.

``lineage_snapshots`` holds each distinct graph once, by digest; ``commit_lineage`` links each
tenant's warehouse commit to the digest in force when it was made.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lineage_snapshots",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("graph", sa.JSON, nullable=False),
    )
    op.create_table(
        "commit_lineage",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("commit_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column(
            "digest", sa.String(64), sa.ForeignKey("lineage_snapshots.digest"), nullable=False
        ),
    )
    op.create_index("ix_commit_lineage_digest", "commit_lineage", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_commit_lineage_digest", table_name="commit_lineage")
    op.drop_table("commit_lineage")
    op.drop_table("lineage_snapshots")
