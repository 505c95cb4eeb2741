"""Access control: a tenant's own roles, its grants, its row and column policies, the
attributes of an API key (what row policies are parameterized by), and the tenant's access
generation (bumped by every change, so every process sees a change on its next request).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_roles",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "access_grants",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("grantee_kind", sa.String(8), nullable=False),  # role | user
        sa.Column("grantee", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("resource_kind", sa.String(32), nullable=False),
        sa.Column("resource_name", sa.String(256), nullable=True),
        sa.Column("effect", sa.String(8), nullable=False),  # allow | deny
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "access_policies",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),  # row | column
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    )
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("access_generation", sa.Integer, nullable=False, server_default="0")
        )
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("attributes", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("attributes")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("access_generation")
    op.drop_table("access_policies")
    op.drop_table("access_grants")
    op.drop_table("access_roles")
