"""A shot's name is unique within its project (so that concurrent workers cannot file one shot
twice).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shot") as batch:
        batch.create_unique_constraint("uq_shot_project_name", ["project_id", "name"])


def downgrade() -> None:
    with op.batch_alter_table("shot") as batch:
        batch.drop_constraint("uq_shot_project_name", type_="unique")
