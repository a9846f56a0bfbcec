"""Baseline: the schema as the store created it before migrations (`Base.metadata.create_all`
plus the columns `_add_missing_columns` added later).

A database without a version table gets the tables it lacks; one written by the old code
(its tables there, perhaps without the nullable reviews columns flags / prior / contest that
came later) keeps every row and gains the missing columns (nullable, as the old code added
them) and indexes. Either way it is then stamped 0001. Frozen: later changes are new revisions.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


# table → its columns and unique constraints (fresh objects on every call), and its indexes
def _users() -> list:
    return [sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(100), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.UniqueConstraint("name")]


def _cards() -> list:
    return [sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
            sa.Column("item_id", sa.String(80), nullable=False),
            sa.Column("note_id", sa.String(20), nullable=False),
            sa.Column("item_type", sa.String(10), nullable=False),
            sa.Column("state", sa.Integer, nullable=False),
            sa.Column("step", sa.Integer, nullable=True),
            sa.Column("stability", sa.Float, nullable=True),
            sa.Column("difficulty", sa.Float, nullable=True),
            sa.Column("due", sa.DateTime(timezone=True), nullable=False),
            sa.Column("last_review", sa.DateTime(timezone=True), nullable=True),
            sa.Column("reps", sa.Integer, nullable=False),
            sa.Column("lapses", sa.Integer, nullable=False),
            sa.UniqueConstraint("user_id", "item_id")]


def _reviews() -> list:
    return [sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
            sa.Column("time", sa.DateTime(timezone=True), nullable=False),
            sa.Column("item_id", sa.String(80), nullable=False),
            sa.Column("note_id", sa.String(20), nullable=False),
            sa.Column("item_type", sa.String(10), nullable=False),
            sa.Column("answer", sa.Text, nullable=False),
            sa.Column("score", sa.Float, nullable=False),
            sa.Column("verdict", sa.String(10), nullable=False),
            sa.Column("rating", sa.String(10), nullable=False),
            sa.Column("latency_ms", sa.Integer, nullable=True),
            sa.Column("flags", sa.JSON, nullable=True),  # these three came after the first release
            sa.Column("prior", sa.JSON, nullable=True),
            sa.Column("contest", sa.JSON, nullable=True)]


def _generated_items() -> list:
    return [sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("note_id", sa.String(20), nullable=False),
            sa.Column("note_hash", sa.String(64), nullable=False),
            sa.Column("model", sa.String(200), nullable=False),
            sa.Column("payload", sa.JSON, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)]


TABLES = {"users": (_users, []),
          "cards": (_cards, ["user_id", "note_id", "due"]),
          "reviews": (_reviews, ["user_id", "time", "item_id", "note_id"]),
          "generated_items": (_generated_items, ["note_id"])}


def upgrade() -> None:
    if context.is_offline_mode():  # `alembic upgrade --sql`: the DDL of a fresh database
        insp, have = None, set()
    else:
        insp = sa.inspect(op.get_bind())
        have = set(insp.get_table_names())
    for name, (parts, indexed) in TABLES.items():
        if name not in have:
            op.create_table(name, *parts())
            for col in indexed:
                op.create_index(f"ix_{name}_{col}", name, [col])
            continue
        # written by the code before migrations: add what it lacks, keep every row
        cols = {c["name"] for c in insp.get_columns(name)}
        for col in parts():
            if isinstance(col, sa.Column) and col.name not in cols:
                op.add_column(name, sa.Column(col.name, col.type, nullable=True))
        indexes = {ix["name"] for ix in insp.get_indexes(name)}
        for col in indexed:
            if f"ix_{name}_{col}" not in indexes:
                op.create_index(f"ix_{name}_{col}", name, [col])


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
