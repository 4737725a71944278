"""The trigram indexes of `q` with a small pending list (256 kB instead of 4 MB).

GIN appends the entries of new and changed rows to a pending list, which every search
reads from end to end until it is merged into the index (when it outgrows its limit, or
at a vacuum). A small limit keeps what a search reads small, while inserts still batch
their entries: without the pending list (`fastupdate = off`) a bulk insert or COPY runs
several times slower.

Revision ID: 0004_trigram_pending_limit
Revises: 0003_task_counts
Create Date: 2026-12-02
"""

from alembic import op

revision = "0004_trigram_pending_limit"
down_revision = "0003_task_counts"
branch_labels = None
depends_on = None

INDEXES = ("ix_tasks_title_trgm", "ix_tasks_description_trgm")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no trigram indexes
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} SET (gin_pending_list_limit = 256)")
        op.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} RESET (gin_pending_list_limit)")
