"""Governance: lineage, data quality, metadata, the catalog, the audit trail and the
governance report (docs/governance.md).

A domain package: it imports only the lower layers (model, storage, config, access, errors);
what it needs of other domains (running SQL on pinned versions, the cubes and rollups) the
composition root passes in.
"""
