"""Outputs record the host start frame of a roto format's file: the host frame at which the
plate's first frame is keyed in it (``rotoflow run/export --start-frame``); null for files in
plate frames and for outputs recorded before this revision.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("output") as batch:
        batch.add_column(sa.Column("start_frame", sa.Integer()))


def downgrade() -> None:
    with op.batch_alter_table("output") as batch:
        batch.drop_column("start_frame")
