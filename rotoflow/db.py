"""Project database (SQLModel): projects, shots, objects, jobs and outputs.

A SQLite file by default (``ROTOFLOW_DATABASE_URL`` for PostgreSQL in a studio). The schema is
created and kept current by the Alembic migrations in :mod:`rotoflow.migrations`, applied on first
use of a URL (:func:`migrate`); every write is its own short transaction so that a crash loses
nothing already recorded.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, Column, Text, UniqueConstraint, func, inspect, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Field, Session, SQLModel, create_engine, select


def utcnow() -> datetime:
    return datetime.now(UTC)


class Status(enum.StrEnum):
    """Status of a shot or a job."""

    pending = "pending"
    running = "running"
    done = "done"
    failed = "failed"


class Project(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    created_at: datetime = Field(default_factory=utcnow)


class Shot(SQLModel, table=True):
    """A plate under a project. ``name`` is unique within the project."""

    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_shot_project_name"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    name: str = Field(index=True)
    plate_path: str
    width: int | None = None
    height: int | None = None
    pixel_aspect: float | None = None
    fps: float | None = None
    first_frame: int | None = None
    last_frame: int | None = None
    colourspace: str | None = None
    status: Status = Field(default=Status.pending, index=True)
    error: str | None = Field(default=None, sa_column=Column(Text))
    output_dir: str | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class RotoObject(SQLModel, table=True):
    """One prompted object of a shot."""

    id: int | None = Field(default=None, primary_key=True)
    shot_id: int = Field(foreign_key="shot.id", index=True)
    object_id: int
    name: str
    prompt: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class Job(SQLModel, table=True):
    """One run of the roto flow on a shot."""

    id: int | None = Field(default=None, primary_key=True)
    shot_id: int | None = Field(default=None, foreign_key="shot.id", index=True)
    plate_path: str
    status: Status = Field(default=Status.running, index=True)
    flow_run_id: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    models: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    timings: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON))
    error: str | None = Field(default=None, sa_column=Column(Text))
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    plate_signature: str | None = None  # ingest.plate_signature of the plate the job ran on


class Output(SQLModel, table=True):
    """A published file of a job (mask or alpha frame, roto script, shapes)."""

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    shot_id: int = Field(foreign_key="shot.id", index=True)
    object_id: int | None = None
    kind: str = Field(index=True)  # "mask" | "alpha" | "nuke" | "shapes"
    frame: int | None = None
    path: str
    sha256: str


MIGRATIONS = Path(__file__).parent / "migrations"
_FIRST_REVISION = "0001"  # the schema as created before migrations existed
_MIGRATION_LOCK = 0x526F746F  # PostgreSQL advisory lock key held while migrating


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """An engine for ``url`` with the schema migrated to the newest revision (cached per URL).

    SQLite files get their parent folder created and a busy timeout so the CLI and a flow run can
    share one file.
    """
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    engine = create_engine(url, **kwargs)
    migrate(engine)
    return engine


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the database to an Alembic ``revision`` of :mod:`rotoflow.migrations`.

    A database created before migrations (tables but no ``alembic_version``) is first stamped as
    revision ``0001``, which is that schema. On PostgreSQL a transaction-level advisory lock keeps
    concurrent workers from migrating at once; on SQLite a writer that finds the file locked, or
    finds that another process created the tables first, tries again.

    Raises:
        sqlalchemy.exc.OperationalError: SQLite stays locked through three attempts.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    for attempt in range(3):
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                    )
                tables = inspect(conn).get_table_names()
                config.attributes["connection"] = conn
                if "alembic_version" not in tables and "shot" in tables:
                    command.stamp(config, _FIRST_REVISION)
                command.upgrade(config, revision)
            return
        except OperationalError:
            if attempt == 2 or engine.dialect.name != "sqlite":
                raise


@contextmanager
def session(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def get_or_create_project(s: Session, name: str) -> Project:
    """The project called ``name``, created if there is none. Safe against another process
    creating it at the same moment (the unique name decides; the loser reads the winner's row)."""
    return _get_or_create(
        s, select(Project).where(Project.name == name), lambda: Project(name=name)
    )


def get_or_create_shot(s: Session, project: Project, name: str, plate_path: str) -> Shot:
    """The shot called ``name`` in ``project`` with its plate set to ``plate_path``, created if
    there is none; safe against concurrent creation as :func:`get_or_create_project`."""
    shot = _get_or_create(
        s,
        select(Shot).where(Shot.project_id == project.id, Shot.name == name),
        lambda: Shot(project_id=project.id, name=name, plate_path=plate_path),
    )
    shot.plate_path = plate_path
    return shot


def lock_shot(s: Session, shot_id: int) -> Shot:
    """The shot row read afresh and locked until the session's transaction ends.

    Jobs of one shot (a re-run started while an earlier run is still going, two workers picking up
    the same shot) change the shot row one at a time, so no update is lost: PostgreSQL takes the
    row's lock, SQLite its database write lock, through a no-op ``UPDATE`` of the row (the busy
    timeout of :func:`get_engine` makes a second writer wait).

    Raises:
        sqlalchemy.exc.NoResultFound: no shot with that id.
    """
    s.flush()
    s.execute(update(Shot).where(Shot.id == shot_id).values(id=Shot.id))
    return s.exec(
        select(Shot).where(Shot.id == shot_id).execution_options(populate_existing=True)
    ).one()


def latest_job_id(s: Session, shot_id: int) -> int | None:
    """Id of the shot's newest job (None when it has none). Read it under :func:`lock_shot`: the
    shot's status follows its newest job only."""
    return s.exec(select(func.max(Job.id)).where(Job.shot_id == shot_id)).one()


def _get_or_create(s: Session, query, make):
    """The row ``query`` finds, or a new one from ``make()`` inserted in a savepoint; when a
    concurrent transaction inserted the same unique key first, its row."""
    found = s.exec(query).first()
    if found is not None:
        return found
    row = make()
    try:
        with s.begin_nested():
            s.add(row)
    except IntegrityError:
        return s.exec(query).one()
    return row
