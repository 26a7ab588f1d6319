"""Jobs record the signature of the plate they ran on, so that a batch can tell a changed plate.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("plate_signature", sqlmodel.sql.sqltypes.AutoString()))


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("plate_signature")
