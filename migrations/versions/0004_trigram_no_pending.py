"""The trigram indexes of `q` without a pending list: new entries go straight into the index.

With GIN's default `fastupdate`, every insert and every update that is not HOT (a new
priority, a new status) appends to the index's pending list, which every search then reads
from end to end until a vacuum merges it: searches grow slower with each write between
vacuums. Without it, writes pay for their index entries at once and searches stay even.

Revision ID: 0004_trigram_no_pending
Revises: 0003_task_counts
Create Date: 2026-12-02
"""

from alembic import op

revision = "0004_trigram_no_pending"
down_revision = "0003_task_counts"
branch_labels = None
depends_on = None

INDEXES = ("ix_tasks_title_trgm", "ix_tasks_description_trgm")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no trigram indexes
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} SET (fastupdate = off)")
        op.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} RESET (fastupdate)")
