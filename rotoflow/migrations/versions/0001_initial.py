"""The project database as Rotoflow created it before migrations: projects, shots, objects, jobs
and outputs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUS = sa.Enum("pending", "running", "done", "failed", name="status")
_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "project",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", _STR(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_project_name", "project", ["name"], unique=True)
    op.create_table(
        "shot",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("name", _STR(), nullable=False),
        sa.Column("plate_path", _STR(), nullable=False),
        sa.Column("width", sa.Integer()),
        sa.Column("height", sa.Integer()),
        sa.Column("pixel_aspect", sa.Float()),
        sa.Column("fps", sa.Float()),
        sa.Column("first_frame", sa.Integer()),
        sa.Column("last_frame", sa.Integer()),
        sa.Column("colourspace", _STR()),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("output_dir", _STR()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    for column in ("project_id", "name", "status"):
        op.create_index(f"ix_shot_{column}", "shot", [column])
    op.create_table(
        "rotoobject",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("shot_id", sa.Integer(), sa.ForeignKey("shot.id"), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("name", _STR(), nullable=False),
        sa.Column("prompt", sa.JSON()),
    )
    op.create_index("ix_rotoobject_shot_id", "rotoobject", ["shot_id"])
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("shot_id", sa.Integer(), sa.ForeignKey("shot.id")),
        sa.Column("plate_path", _STR(), nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("flow_run_id", _STR()),
        sa.Column("parameters", sa.JSON()),
        sa.Column("models", sa.JSON()),
        sa.Column("timings", sa.JSON()),
        sa.Column("error", sa.Text()),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    for column in ("shot_id", "status"):
        op.create_index(f"ix_job_{column}", "job", [column])
    op.create_table(
        "output",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("job.id"), nullable=False),
        sa.Column("shot_id", sa.Integer(), sa.ForeignKey("shot.id"), nullable=False),
        sa.Column("object_id", sa.Integer()),
        sa.Column("kind", _STR(), nullable=False),
        sa.Column("frame", sa.Integer()),
        sa.Column("path", _STR(), nullable=False),
        sa.Column("sha256", _STR(), nullable=False),
    )
    for column in ("job_id", "shot_id", "kind"):
        op.create_index(f"ix_output_{column}", "output", [column])


def downgrade() -> None:
    for table in ("output", "job", "rotoobject", "shot", "project"):
        op.drop_table(table)
    STATUS.drop(op.get_bind(), checkfirst=True)
