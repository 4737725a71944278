"""Task counts: how many tasks each owner has per status, in the trash or not, kept by
triggers on `tasks` in the same transaction as every change, so that a list's total is a
lookup of at most eight rows instead of a count over the account.

On PostgreSQL one statement-level trigger per operation reads the statement's transition
tables, so a COPY or a multi-row INSERT of a million tasks adds to each counter once. SQLite
has row-level triggers only.

Revision ID: 0003_task_counts
Revises: 0002_jobs
Create Date: 2026-12-02

Written by hand (autogenerate sees the table, not the triggers: tests/test_migrations.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_task_counts"
down_revision = "0002_jobs"
branch_labels = None
depends_on = None

# Adds the group deltas of `changes` (owner_id, status, in_trash, delta) to the counters.
# (No CHECK (tasks >= 0) on the table: PostgreSQL checks the row an upsert proposes, which
# carries a negative delta, before it finds the conflict that makes it an update.)
_ADD = """
    INSERT INTO task_counts AS counted (owner_id, status, in_trash, tasks)
    SELECT owner_id, status, in_trash, sum(delta) FROM ({changes}) AS changes
    GROUP BY owner_id, status, in_trash
    HAVING sum(delta) <> 0
    ON CONFLICT (owner_id, status, in_trash)
    DO UPDATE SET tasks = counted.tasks + excluded.tasks
"""
_ROWS = "SELECT owner_id, status, deleted_at IS NOT NULL AS in_trash, {sign} AS delta FROM {table}"

POSTGRESQL_FUNCTION = f"""
CREATE FUNCTION task_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_ADD.format(changes=_ROWS.format(sign=1, table="new_rows"))};
    ELSIF TG_OP = 'UPDATE' THEN
        {_ADD.format(changes=_ROWS.format(sign=1, table="new_rows") + " UNION ALL "
                     + _ROWS.format(sign=-1, table="old_rows"))};
    ELSE
        -- An UPDATE, not an upsert: when the owner is being deleted, their counters went
        -- with them, and nothing may be inserted for them again.
        UPDATE task_counts AS counted SET tasks = counted.tasks - gone.tasks
        FROM (SELECT owner_id, status, deleted_at IS NOT NULL AS in_trash, count(*) AS tasks
              FROM old_rows GROUP BY 1, 2, 3) AS gone
        WHERE (counted.owner_id, counted.status, counted.in_trash)
            = (gone.owner_id, gone.status, gone.in_trash);
    END IF;
    RETURN NULL;
END
$$
"""  # fmt: skip
POSTGRESQL_TRIGGERS = [
    "CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION task_counts_follow()",
    "CREATE TRIGGER task_counts_update AFTER UPDATE ON tasks"
    " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION task_counts_follow()",
    "CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION task_counts_follow()",
]

_SQLITE_ADD = """
    INSERT INTO task_counts (owner_id, status, in_trash, tasks)
    VALUES ({row}.owner_id, {row}.status, {row}.deleted_at IS NOT NULL, 1)
    ON CONFLICT (owner_id, status, in_trash) DO UPDATE SET tasks = tasks + 1;
"""
_SQLITE_REMOVE = """
    UPDATE task_counts SET tasks = tasks - 1
    WHERE owner_id = {row}.owner_id AND status = {row}.status
      AND in_trash = ({row}.deleted_at IS NOT NULL);
"""
SQLITE_TRIGGERS = [
    "CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks"
    f" BEGIN {_SQLITE_ADD.format(row='NEW')} END",
    "CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks"
    f" BEGIN {_SQLITE_REMOVE.format(row='OLD')} END",
    "CREATE TRIGGER task_counts_update AFTER UPDATE OF owner_id, status, deleted_at ON tasks"
    " WHEN OLD.owner_id <> NEW.owner_id OR OLD.status <> NEW.status"
    " OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)"
    f" BEGIN {_SQLITE_REMOVE.format(row='OLD')} {_SQLITE_ADD.format(row='NEW')} END",
]  # fmt: skip


def upgrade():
    op.create_table(
        "task_counts",
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("in_trash", sa.Boolean(), nullable=False),
        sa.Column("tasks", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_task_counts_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("owner_id", "status", "in_trash", name=op.f("pk_task_counts")),
    )
    op.execute(
        "INSERT INTO task_counts (owner_id, status, in_trash, tasks)"
        " SELECT owner_id, status, deleted_at IS NOT NULL, count(*) FROM tasks"
        " GROUP BY owner_id, status, deleted_at IS NOT NULL"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        for trigger in POSTGRESQL_TRIGGERS:
            op.execute(trigger)
    else:
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)


def downgrade():
    for name in ("task_counts_insert", "task_counts_update", "task_counts_delete"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER {name} ON tasks")
        else:
            op.execute(f"DROP TRIGGER {name}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION task_counts_follow()")
    op.drop_table("task_counts")
