"""A shot's name is unique within its project (so that concurrent workers cannot file one shot
twice).

Shots that were filed twice before this revision are merged first, so that the upgrade never
fails on an existing database and no job or output is lost: the first row (lowest id) stays, with
the state (plate metadata, status, error, output folder) and the objects of the row updated last;
the other rows' jobs and outputs move to it, and those rows go.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


#: The shot columns that follow its latest job (copied from the row updated last when merging).
_STATE = (
    "plate_path",
    "width",
    "height",
    "pixel_aspect",
    "fps",
    "first_frame",
    "last_frame",
    "colourspace",
    "status",
    "error",
    "output_dir",
    "updated_at",
)


def _merge_duplicate_shots(conn: sa.Connection) -> None:
    dups = conn.execute(
        sa.text("SELECT project_id, name FROM shot GROUP BY project_id, name HAVING COUNT(*) > 1")
    ).all()
    for project_id, name in dups:
        rows = conn.execute(
            sa.text(
                f"SELECT id, {', '.join(_STATE)} FROM shot WHERE project_id = :p AND name = :n"
            ),
            {"p": project_id, "n": name},
        ).all()
        keep = min(r.id for r in rows)
        latest = max(rows, key=lambda r: (r.updated_at, r.id))
        if latest.id != keep:
            sets = ", ".join(f"{c} = :{c}" for c in _STATE)
            values = {c: getattr(latest, c) for c in _STATE}
            conn.execute(
                sa.text(f"UPDATE shot SET {sets} WHERE id = :keep"), {**values, "keep": keep}
            )
            conn.execute(sa.text("DELETE FROM rotoobject WHERE shot_id = :keep"), {"keep": keep})
            conn.execute(
                sa.text("UPDATE rotoobject SET shot_id = :keep WHERE shot_id = :old"),
                {"keep": keep, "old": latest.id},
            )
        for other in sorted(r.id for r in rows if r.id != keep):
            ids = {"keep": keep, "old": other}
            conn.execute(sa.text("UPDATE job SET shot_id = :keep WHERE shot_id = :old"), ids)
            conn.execute(sa.text("UPDATE output SET shot_id = :keep WHERE shot_id = :old"), ids)
            conn.execute(sa.text("DELETE FROM rotoobject WHERE shot_id = :old"), ids)
            conn.execute(sa.text("DELETE FROM shot WHERE id = :old"), ids)


def upgrade() -> None:
    _merge_duplicate_shots(op.get_bind())
    with op.batch_alter_table("shot") as batch:
        batch.create_unique_constraint("uq_shot_project_name", ["project_id", "name"])


def downgrade() -> None:
    with op.batch_alter_table("shot") as batch:
        batch.drop_constraint("uq_shot_project_name", type_="unique")
