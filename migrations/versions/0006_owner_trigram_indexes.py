"""The trigram indexes of `q` per owner: GIN on (owner_id, title) and (owner_id,
description), with btree_gin for the owner's column.

A search reads only the owner's matches from the index instead of every account's and
then filtering them by owner: a search's count (up to 1 000 matches) and a rare word's
page become a bitmap scan of the owner's matching rows. The queries compare owner_id with
a BIGINT (the opclass has no cross-type operators).

Revision ID: 0006_owner_trigram_indexes
Revises: 0005_list_indexes
Create Date: 2026-12-02
"""

from alembic import op

revision = "0006_owner_trigram_indexes"
down_revision = "0005_list_indexes"
branch_labels = None
depends_on = None

COLUMNS = ("title", "description")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no trigram indexes
    # btree_gin is a trusted extension (PostgreSQL 13+): the database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    for column in COLUMNS:
        op.execute(
            f"CREATE INDEX ix_tasks_owner_{column}_trgm ON tasks "
            f"USING gin (owner_id, {column} gin_trgm_ops) WITH (gin_pending_list_limit = 256)"
        )
        op.execute(f"DROP INDEX ix_tasks_{column}_trgm")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.execute(
            f"CREATE INDEX ix_tasks_{column}_trgm ON tasks "
            f"USING gin ({column} gin_trgm_ops) WITH (gin_pending_list_limit = 256)"
        )
        op.execute(f"DROP INDEX ix_tasks_owner_{column}_trgm")
