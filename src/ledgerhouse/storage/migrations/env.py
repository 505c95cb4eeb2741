"""Alembic environment: runs on the connection MetadataStore.migrate() passes in."""

from alembic import context

from ledgerhouse.storage.rows import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the programmatic path is supported
    raise RuntimeError("run migrations through MetadataStore.migrate()")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
