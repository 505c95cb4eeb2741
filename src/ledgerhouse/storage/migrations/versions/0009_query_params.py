"""The query log keeps each query's parameters (``params``), so a logged answer of a
parameterized query can be reproduced (cell lineage).

``params`` is JSON: ``{"values": [...]}`` with each Decimal, date, time, timestamp, interval or
UUID as ``{"type": ..., "value": <exact text>}``, or ``{"omitted": {...}}`` when the encoded
parameters were too large to keep. NULL for a query without parameters, and for every entry
logged before this revision.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("query_log") as batch:
        batch.add_column(sa.Column("params", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("query_log") as batch:
        batch.drop_column("params")
