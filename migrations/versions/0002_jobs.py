"""Jobs: requests to process a task, with their state, progress, attempts and lease.

Revision ID: 0002_jobs
Revises: 0001_initial
Create Date: 2026-11-22

Written by hand after the model (autogenerate agrees: tests/test_migrations.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_jobs"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

ACTIVE = sa.text("state IN ('queued', 'running')")


def _timestamp(name, **kwargs):
    return sa.Column(name, sa.DateTime(timezone=True), **kwargs)


def upgrade():
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.SmallInteger(), nullable=False),
        sa.Column("attempt", sa.SmallInteger(), nullable=False),
        sa.Column("max_attempts", sa.SmallInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.String(length=500), nullable=True),
        _timestamp("created_at", server_default=sa.func.now(), nullable=False),
        _timestamp("queued_at", server_default=sa.func.now(), nullable=False),
        _timestamp("retry_at", nullable=True),
        _timestamp("started_at", nullable=True),
        _timestamp("heartbeat_at", nullable=True),
        _timestamp("finished_at", nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name=op.f("ck_jobs_state_valid"),
        ),
        sa.CheckConstraint("kind IN ('process')", name=op.f("ck_jobs_kind_valid")),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name=op.f("ck_jobs_progress_range")),
        sa.CheckConstraint(
            "attempt BETWEEN 0 AND max_attempts", name=op.f("ck_jobs_attempt_range")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_jobs_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(
        "uq_jobs_task_id_active",
        "jobs",
        ["task_id"],
        unique=True,
        postgresql_where=ACTIVE,
        sqlite_where=ACTIVE,
    )
    op.create_index("ix_jobs_task_id_created", "jobs", ["task_id", "created_at"])
    op.create_index(
        "ix_jobs_active_state", "jobs", ["state"], postgresql_where=ACTIVE, sqlite_where=ACTIVE
    )


def downgrade():
    op.drop_table("jobs")
