"""Tags that differ only in Unicode form are one tag: each account's tags are renamed to
the stored form (NFC, lower-cased: schemas.TagName), and tags that become the same name
are merged into the oldest, which takes over the others' tasks.

Before the stored form was NFC, `café` typed composed and decomposed made two tags. Data
only: the schema does not change, and going down leaves the merged tags merged.

Revision ID: 0008_merge_tag_forms
Revises: 0007_web_sessions
Create Date: 2026-12-02
"""

import unicodedata
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0008_merge_tag_forms"
down_revision = "0007_web_sessions"
branch_labels = None
depends_on = None

tags = sa.table("tags", sa.column("id"), sa.column("owner_id"), sa.column("name"))
task_tags = sa.table("task_tags", sa.column("task_id"), sa.column("tag_id"))


def stored(name):
    """schemas.TagName's stored form (copied: a migration does not import the app)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).lower())


def upgrade():
    bind = op.get_bind()
    groups = defaultdict(list)
    for tag_id, owner_id, name in bind.execute(
        sa.select(tags.c.id, tags.c.owner_id, tags.c.name).order_by(tags.c.id)
    ):
        groups[owner_id, stored(name)].append((tag_id, name))
    for (_, name), members in groups.items():
        (keeper, keeper_name), merged = members[0], [tag_id for tag_id, _ in members[1:]]
        if merged:
            linked = sa.select(task_tags.c.task_id).where(task_tags.c.tag_id == keeper)
            bind.execute(
                task_tags.insert().from_select(
                    ["task_id", "tag_id"],
                    sa.select(task_tags.c.task_id, sa.literal(keeper))
                    .where(task_tags.c.tag_id.in_(merged), task_tags.c.task_id.not_in(linked))
                    .distinct(),
                )
            )
            bind.execute(task_tags.delete().where(task_tags.c.tag_id.in_(merged)))
            bind.execute(tags.delete().where(tags.c.id.in_(merged)))
        if keeper_name != name:
            bind.execute(tags.update().where(tags.c.id == keeper).values(name=name))


def downgrade():
    pass
