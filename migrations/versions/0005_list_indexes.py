"""Indexes for the lists that read more than a page: the trash and `deleted=include` in
the default order, and the sort by status. Each now reads one page from an index
(tests/test_query_plans.py). The owner's plain index gives way to one in the default
order, which serves the foreign key as well.

Revision ID: 0005_list_indexes
Revises: 0004_trigram_pending_limit
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_list_indexes"
down_revision = "0004_trigram_pending_limit"
branch_labels = None
depends_on = None

LIVE = sa.text("deleted_at IS NULL")
TRASH = sa.text("deleted_at IS NOT NULL")


def upgrade():
    op.create_index(
        "ix_tasks_live_status",
        "tasks",
        ["owner_id", "status", "id"],
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )
    op.create_index(
        "ix_tasks_trash_created",
        "tasks",
        ["owner_id", "created_at", "id"],
        postgresql_where=TRASH,
        sqlite_where=TRASH,
    )
    op.create_index("ix_tasks_owner_created", "tasks", ["owner_id", "created_at", "id"])
    op.drop_index("ix_tasks_owner_deleted", table_name="tasks")


def downgrade():
    op.create_index("ix_tasks_owner_deleted", "tasks", ["owner_id", "deleted_at"])
    op.drop_index("ix_tasks_owner_created", table_name="tasks")
    op.drop_index("ix_tasks_trash_created", table_name="tasks")
    op.drop_index("ix_tasks_live_status", table_name="tasks")
