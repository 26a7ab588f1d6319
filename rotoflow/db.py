"""Project database (SQLModel): projects, shots, objects, jobs and outputs.

A SQLite file by default (``ROTOFLOW_DATABASE_URL`` for PostgreSQL in a studio). The schema is
created and kept current by the Alembic migrations in :mod:`rotoflow.migrations`, applied on first
use of a URL (:func:`migrate`); every write is its own short transaction so that a crash loses
nothing already recorded.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, Column, Text, UniqueConstraint, func, inspect, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Field, Session, SQLModel, create_engine, select

from rotoflow.files import locked
from rotoflow.s3url import is_s3_url

log = logging.getLogger(__name__)
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Status(enum.StrEnum):
    """Status of a shot or a job."""

    pending = "pending"
    running = "running"
    done = "done"
    failed = "failed"
    crashed = "crashed"  # its worker stopped without recording an end (see records.reap_crashed)


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
    plate_signature: str | None = None  # rotoflow.plate.plate_signature of the plate the job ran on
    heartbeat_at: datetime | None = None  # last sign of life of the worker running the job
    host: str | None = None  # host name of the worker process
    pid: int | None = None  # process id of the worker on that host


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
    # host frame of the plate's first frame in a roto format's file; None: plate frames
    start_frame: int | None = None


MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30.0  # how long a SQLite connection waits for another writer
_FIRST_REVISION = "0001"  # the schema as created before migrations existed
_MIGRATION_LOCK = 0x526F746F  # PostgreSQL advisory lock key held while migrating


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """An engine for ``url`` with the schema migrated to the newest revision (cached per URL).

    SQLite files get their parent folder created and a busy timeout (30 s, or the URL's
    ``?timeout=SECONDS``) so the CLI and a flow run can share one file.
    """
    kwargs: dict[str, Any] = {}
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        if "timeout" not in parsed.query:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    engine = create_engine(url, **kwargs)
    migrate(engine)
    return engine


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the database to an Alembic ``revision`` of :mod:`rotoflow.migrations`.

    A database created before migrations (tables but no ``alembic_version``) is first stamped as
    revision ``0001``, which is that schema. On PostgreSQL a transaction-level advisory lock keeps
    concurrent workers from migrating at once; on SQLite a file lock beside the database does (and
    a writer that still finds the file locked tries again).

    Raises:
        sqlalchemy.exc.OperationalError: SQLite stays locked through three attempts.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _sqlite_migration_lock(engine):
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
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """For a SQLite file, an exclusive lock (:func:`rotoflow.files.locked`, waiting as long as it
    takes) on ``<file>.migrate.lock`` while migrating:
    Python's sqlite3 runs DDL outside a transaction, so two processes opening a new file at once
    would both create the tables ("table project already exists"). Nothing for other databases
    (PostgreSQL takes an advisory lock) or an in-memory SQLite."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with locked(f"{database}.migrate.lock"):
        yield


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


def plate_location(plate: str) -> str:
    """How a plate is recorded: a local path made absolute and normalised (so that the nightly
    batch finds it from any working folder; symbolic links are kept, so a re-pointed link reads as
    a changed plate), an ``s3://`` URL as it is."""
    return plate if is_s3_url(plate) else os.path.abspath(plate)


def get_or_create_shot(s: Session, project: Project, name: str, plate_path: str) -> Shot:
    """The shot called ``name`` in ``project`` with its plate set to ``plate_path`` (recorded as
    :func:`plate_location`), created if there is none; safe against concurrent creation as
    :func:`get_or_create_project`."""
    plate_path = plate_location(plate_path)
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


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 (not a URL SQLAlchemy can parse: show nothing of it)
        return "<database URL>"


_PG_LOCK_STATES = {"55P03", "40P01", "40001"}  # lock not available, deadlock, serialization


def is_lock_error(exc: BaseException) -> bool:
    """Whether ``exc`` is another writer holding a lock: SQLite's "database is locked" (busy
    timeout passed), or PostgreSQL's lock timeout, deadlock or serialization failure."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _PG_LOCK_STATES:
        return True
    return isinstance(exc, OperationalError) and "locked" in str(orig).lower()


LOCK_TRIES = 5
"""How many times :func:`retry_locked` tries a write that meets a held lock."""
LOCK_BACKOFF_S = 0.5
"""Seconds :func:`retry_locked` waits after the first locked try; doubled after each one."""


def retry_locked(fn: Callable[[], T], what: str) -> T:
    """``fn()``, tried again with exponential backoff while another writer holds a lock.

    ``fn`` must be one whole transaction (a :func:`session` block), so that a try that met the
    lock was rolled back and can be repeated as it is. It is tried :data:`LOCK_TRIES` times, with
    waits of :data:`LOCK_BACKOFF_S`, twice that, ... between tries; each try on SQLite also waits
    the busy timeout of :func:`get_engine` for the lock.

    Args:
        fn: The transaction.
        what: What it does, for the log (``"record job 12"``).

    Returns:
        What ``fn`` returns.

    Raises:
        sqlalchemy.exc.DBAPIError: the lock was still held at the last try (:func:`is_lock_error`),
            or any other database error at once.
    """
    attempt = 1
    while True:
        try:
            return fn()
        except DBAPIError as exc:
            if not is_lock_error(exc) or attempt >= LOCK_TRIES:
                raise
            delay = LOCK_BACKOFF_S * 2 ** (attempt - 1)
            attempt += 1
            log.warning(
                "%s: database locked by another writer; try %d of %d in %.1f s",
                what,
                attempt,
                LOCK_TRIES,
                delay,
            )
            time.sleep(delay)
