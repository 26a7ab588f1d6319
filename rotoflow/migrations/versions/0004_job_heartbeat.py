"""Jobs carry a heartbeat (time, host and process id of their worker), and a job whose worker
stopped without recording an end can be marked ``crashed``.

On PostgreSQL the ``status`` enum type gains the value ``crashed``; SQLite stores the status as
text. Downgrading turns crashed jobs and shots back into ``failed`` ones (their reason kept).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_OLD_STATUSES = ("pending", "running", "done", "failed")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # allowed inside a transaction since PostgreSQL 12; the value is not used before commit
        op.execute("ALTER TYPE status ADD VALUE IF NOT EXISTS 'crashed'")
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("host", sqlmodel.sql.sqltypes.AutoString()))
        batch.add_column(sa.Column("pid", sa.Integer()))


def downgrade() -> None:
    for table in ("job", "shot"):
        op.execute(f"UPDATE {table} SET status = 'failed' WHERE status = 'crashed'")
    with op.batch_alter_table("job") as batch:
        batch.drop_column("pid")
        batch.drop_column("host")
        batch.drop_column("heartbeat_at")
    if op.get_bind().dialect.name == "postgresql":
        # PostgreSQL cannot drop an enum value: build the type again without it
        op.execute("ALTER TYPE status RENAME TO status_0004")
        sa.Enum(*_OLD_STATUSES, name="status").create(op.get_bind())
        for table in ("job", "shot"):
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN status TYPE status USING status::text::status"
            )
        op.execute("DROP TYPE status_0004")
