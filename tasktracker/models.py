"""The data model (SPEC §3): typed tables, constraints and the indexes the list queries use.

One module on purpose, past the size at which others become packages: the tables are read
together (a constraint or an index of one names the others), Alembic compares the models
with the migrations as one metadata, and most of it is declarations, not logic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from tasktracker.extensions import db

# BIGINT keys on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
JsonData = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both databases (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def created_at_column() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, server_default=func.now())


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class TaskStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_JOB_STATES = (JobState.QUEUED, JobState.RUNNING)


class EventKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    STATUS_CHANGED = "status_changed"
    COMPLETED = "completed"
    REOPENED = "reopened"
    DELETED = "deleted"
    RESTORED = "restored"
    JOB_QUEUED = "job_queued"
    JOB_STARTED = "job_started"
    JOB_PROGRESS = "job_progress"
    JOB_SUCCEEDED = "job_succeeded"
    JOB_FAILED = "job_failed"
    JOB_CANCELLED = "job_cancelled"


class Owner(Protocol):
    """Whom the task and job services act for: a signed-in account as a request reads it
    (services.accounts.Account) or a mapped User (the CLI, the seed, the benchmarks)."""

    @property
    def id(self) -> int: ...


class User(UserMixin, db.Model):
    """An account. (UserMixin: what Flask-Login asks of a signed-in user.)"""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Stored lower-cased by the schema, so the unique constraint is case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at_column()

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_at_column()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()

    # The plain token: set on the instance issue_token returns, shown once, never stored.
    secret = None


class WebSession(db.Model):
    """A signed-in browser. Its cookie carries a random id, the table keeps its digest: a
    session ends here (signing out, "sign out everywhere"), whatever copies of the cookie
    exist."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_at_column()
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


task_tags = Table(
    "task_tags",
    db.metadata,
    Column("task_id", ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_task_tags_tag_id_task_id", "tag_id", "task_id"),
)


class Tag(db.Model):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))


def _live_index(name: str, *columns: str) -> Index:
    """A per-owner index over the tasks not in the trash (what every list but the trash reads)."""
    return Index(
        name,
        "owner_id",
        *columns,
        postgresql_where=text("deleted_at IS NULL"),
        sqlite_where=text("deleted_at IS NULL"),
    )


def _trigram_index(column: str) -> Index:
    """`q` within one owner's tasks: the owner's column by btree_gin (migration 0006)."""
    return Index(
        f"ix_tasks_owner_{column}_trgm",
        "owner_id",
        column,
        postgresql_using="gin",
        postgresql_ops={column: "gin_trgm_ops"},
        # A small pending list, which every search reads through (migration 0004).
        postgresql_with={"gin_pending_list_limit": 256},
    ).ddl_if(dialect="postgresql")


class Task(db.Model):
    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint("priority BETWEEN 1 AND 5", name="priority_range"),
        CheckConstraint(_in("status", TaskStatus), name="status_valid"),
        CheckConstraint(
            "(status = 'completed') = (completed_at IS NOT NULL)", name="completed_at_iff_completed"
        ),
        # The default list (-created_at) and the sorts of SPEC §4; a backward scan serves
        # the descending sort, as the id tie-breaker follows the last key's direction.
        _live_index("ix_tasks_live_created", "created_at", "id"),
        _live_index("ix_tasks_live_updated", "updated_at", "id"),
        _live_index("ix_tasks_live_due", "due_at", "id"),
        _live_index("ix_tasks_live_priority", "priority", "id"),
        _live_index("ix_tasks_live_title", "title", "id"),
        _live_index("ix_tasks_live_status", "status", "id"),
        # The status filter in the default order.
        _live_index("ix_tasks_live_status_created", "status", "created_at", "id"),
        # The trash, and deleted=include, in the default order; the foreign key.
        Index(
            "ix_tasks_trash_created",
            "owner_id",
            "created_at",
            "id",
            postgresql_where=text("deleted_at IS NOT NULL"),
            sqlite_where=text("deleted_at IS NOT NULL"),
        ),
        Index("ix_tasks_owner_created", "owner_id", "created_at", "id"),
        # `q` is a case-insensitive substring search: trigram indexes make ILIKE '%q%' fast.
        _trigram_index("title"),
        _trigram_index("description"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    priority: Mapped[int] = mapped_column(SmallInteger, default=3, server_default="3")
    status: Mapped[str] = mapped_column(
        String(20), default=TaskStatus.PENDING, server_default=TaskStatus.PENDING.value
    )
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer)

    # In no order: `tag_names` sorts them, so a page and its tags need no sort in SQL.
    tags: Mapped[list[Tag]] = relationship(secondary=task_tags)

    # SQLAlchemy bumps `version` on every UPDATE and adds `WHERE version = :old`, so a
    # concurrent writer that slipped past the row lock cannot be silently overwritten.
    __mapper_args__ = {"version_id_col": version}

    @property
    def completed(self) -> bool:
        return self.status == TaskStatus.COMPLETED

    @property
    def tag_names(self) -> list[str]:
        """Sorted by code point, whatever the database's collation."""
        return sorted(tag.name for tag in self.tags)

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.title!r}>"


class TaskCount(db.Model):
    """How many tasks an owner has with a status, in the trash or not. Kept by triggers on
    `tasks` (migration 0003) in the transaction of every change, whatever makes it (the
    services, a bulk insert, COPY, a cascade): a list's total reads these rows instead of
    counting the account's tasks. Rows of one owner are shared by their concurrent writes,
    which queue for a row lock from the task's INSERT or UPDATE to their commit."""

    __tablename__ = "task_counts"

    owner_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    in_trash: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    tasks: Mapped[int] = mapped_column(BigInteger)


class TaskEvent(db.Model):
    """One entry of a task's append-only log."""

    __tablename__ = "task_events"
    __table_args__ = (
        CheckConstraint(_in("kind", EventKind), name="kind_valid"),
        Index("ix_task_events_task_id_id", "task_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    at: Mapped[datetime] = created_at_column()
    kind: Mapped[str] = mapped_column(String(30))
    message: Mapped[str] = mapped_column(String(500))
    data: Mapped[dict[str, Any]] = mapped_column(JsonData, default=dict)

    task: Mapped[Task] = relationship()


class IdempotencyKey(db.Model):
    """The first response to a create carrying an `Idempotency-Key`, replayed for repeats."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(SmallInteger)
    response_body: Mapped[dict[str, Any]] = mapped_column(JsonData)
    created_at: Mapped[datetime] = created_at_column()


_ACTIVE_JOB = text("state IN ('queued', 'running')")


class Job(db.Model):
    """One request to process a task. The row is the truth; Redis only carries its id.

    `attempt` counts claims; every write a worker makes is fenced by the attempt it claimed
    (`WHERE attempt = :mine AND state = 'running'`), so a worker that lost its job (to the
    reaper, to a cancel) can change nothing any more.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("state", JobState), name="state_valid"),
        CheckConstraint("kind IN ('process')", name="kind_valid"),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
        CheckConstraint("attempt BETWEEN 0 AND max_attempts", name="attempt_range"),
        # At most one queued or running job per task: a second /process is a 409 even when
        # two requests race.
        Index(
            "uq_jobs_task_id_active",
            "task_id",
            unique=True,
            postgresql_where=_ACTIVE_JOB,
            sqlite_where=_ACTIVE_JOB,
        ),
        # A task's jobs, newest first; and the reaper's scan of the active ones.
        Index("ix_jobs_task_id_created", "task_id", "created_at"),
        Index(
            "ix_jobs_active_state", "state", postgresql_where=_ACTIVE_JOB, sqlite_where=_ACTIVE_JOB
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20), default="process")
    state: Mapped[str] = mapped_column(String(20), default=JobState.QUEUED)
    progress: Mapped[int] = mapped_column(SmallInteger, default=0)
    attempt: Mapped[int] = mapped_column(SmallInteger, default=0)
    max_attempts: Mapped[int] = mapped_column(SmallInteger)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at_column()
    # When it last became queued (created, or put back for a retry): the reaper leaves a
    # fresh one alone, as the web or a worker is enqueueing it right after its commit.
    queued_at: Mapped[datetime] = created_at_column()
    # Not before: a retry waits out its backoff.
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The running attempt's lease: renewed by its worker, reaped when it runs out.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    task: Mapped[Task] = relationship()

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_JOB_STATES
