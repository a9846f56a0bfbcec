"""PostgreSQL stores what SQLite stores: text columns without a length limit (SQLite never
enforced VARCHAR(n): a learner name over 100 characters, a model path over 200 were stored
there and refused by PostgreSQL) and 64-bit latency_ms (a quiz tab left open 25 days gives
more milliseconds than a 32-bit INTEGER holds). SQLite: nothing to do (its INTEGER is 64-bit,
its VARCHAR(n) any length). varchar → text rewrites nothing in PostgreSQL; integer → bigint
rewrites the reviews table once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TEXT_COLUMNS = {
    "users": {"name": 100},
    "cards": {"item_id": 80, "note_id": 20, "item_type": 10},
    "reviews": {"item_id": 80, "note_id": 20, "item_type": 10, "verdict": 10, "rating": 10},
    "generated_items": {"note_id": 20, "note_hash": 64, "model": 200},
}


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table, cols in TEXT_COLUMNS.items():
        for col, n in cols.items():
            op.alter_column(table, col, type_=sa.Text(), existing_type=sa.String(n), existing_nullable=False)
    op.alter_column("reviews", "latency_ms", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=True)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.alter_column("reviews", "latency_ms", type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=True)
    for table, cols in TEXT_COLUMNS.items():
        for col, n in cols.items():
            op.alter_column(table, col, type_=sa.String(n), existing_type=sa.Text(), existing_nullable=False)
