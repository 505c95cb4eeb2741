"""API key management: when each key was last used, and a per-tenant key generation.

``tenants.key_generation`` goes up with every revocation in the tenant; each key lookup reads
it, so a key revoked by any process stops working on the next request of every server.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("key_generation", sa.Integer, nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("key_generation")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_at")
