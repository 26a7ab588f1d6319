"""Project database migrations (Alembic): a new database gets the models' schema; one created before
migrations is stamped and upgraded with its rows kept; on SQLite and on the PostgreSQL server on
127.0.0.1."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

from rotoflow import db, records
from tests.conftest import at_once

PROMPT = {"id": 1, "name": "car", "text": "car"}


def _downgrade(engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def _differences(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)


def test_new_database_gets_the_models_schema(database_url):
    engine = db.get_engine(database_url)
    assert _differences(engine) == []
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0005"
    with db.session(database_url) as s:
        project = db.get_or_create_project(s, "show")
        shot = db.get_or_create_shot(s, project, "sh010", "/plates/sh010.####.exr")
        s.add(db.Job(shot_id=shot.id, plate_path=shot.plate_path, plate_signature="abc"))
    with db.session(database_url) as s:
        (job,) = s.exec(db.select(db.Job)).all()
        assert job.plate_signature == "abc"


def test_database_from_before_migrations_is_stamped_and_upgraded(database_url):
    old = create_engine(database_url)
    db.migrate(old, "0001")  # the schema that create_all used to make, then forget the version
    with old.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("INSERT INTO project (name, created_at) VALUES ('show', '2026-01-01')"))
    assert "plate_signature" not in {c["name"] for c in inspect(old).get_columns("job")}
    old.dispose()
    engine = db.get_engine(database_url)
    assert _differences(engine) == []
    with db.session(database_url) as s:
        assert [p.name for p in s.exec(db.select(db.Project))] == ["show"]


def test_concurrent_workers_file_one_project_and_shot(database_url):
    """Eight workers open jobs on the same new shot at once: one project and one shot row, eight
    jobs, nobody fails."""
    db.get_engine(database_url)

    def worker(n: int) -> None:
        records.open_job(database_url, "show", "sh010", "/plates/sh010.mov", [PROMPT], {"n": n}, {})

    errors = at_once(worker, 8)
    assert errors == []
    with db.session(database_url) as s:
        assert len(s.exec(db.select(db.Project)).all()) == 1
        (shot,) = s.exec(db.select(db.Shot)).all()
        jobs = s.exec(db.select(db.Job)).all()
    assert sorted(j.parameters["n"] for j in jobs) == list(range(8))
    assert {j.shot_id for j in jobs} == {shot.id}


def test_shots_filed_twice_before_unique_names_are_merged(database_url):
    """A database at revision 0002 where concurrent workers filed ``sh010`` twice: the upgrade
    keeps one shot row with every job and output, and the state and objects of the row updated
    last."""
    old = create_engine(database_url)
    db.migrate(old, "0002")
    shot_cols = "(id, project_id, name, plate_path, status, output_dir, updated_at)"
    with old.begin() as conn:
        for sql in (
            "INSERT INTO project (id, name, created_at) VALUES (1, 'show', '2026-01-01')",
            f"INSERT INTO shot {shot_cols} VALUES "
            "(1, 1, 'sh010', '/p/a.mov', 'failed', NULL, '2026-01-02 10:00:00'),"
            "(2, 1, 'sh010', '/p/b.mov', 'done', '/out/sh010', '2026-01-02 11:00:00'),"
            "(3, 1, 'sh020', '/p/c.mov', 'pending', NULL, '2026-01-02 09:00:00')",
            "INSERT INTO rotoobject (id, shot_id, object_id, name, prompt) VALUES "
            "(1, 1, 1, 'car', '{}'), (2, 2, 1, 'dancer', '{}'), (3, 3, 1, 'dog', '{}')",
            "INSERT INTO job (id, shot_id, plate_path, status, parameters, models, timings, "
            "started_at) VALUES (1, 1, '/p/a.mov', 'failed', '{}', '{}', '{}', '2026-01-02'),"
            "(2, 2, '/p/b.mov', 'done', '{}', '{}', '{}', '2026-01-02')",
            "INSERT INTO output (id, job_id, shot_id, kind, path, sha256) VALUES "
            "(1, 2, 2, 'mask', '/out/sh010/masks/m.png', 'aa')",
        ):
            conn.execute(text(sql))
    old.dispose()
    engine = db.get_engine(database_url)  # upgrades to head
    assert _differences(engine) == []
    with db.session(database_url) as s:
        shots = {sh.name: sh for sh in s.exec(db.select(db.Shot))}
        assert sorted(shots) == ["sh010", "sh020"] and shots["sh010"].id == 1
        merged = shots["sh010"]
        assert (merged.status, merged.output_dir, merged.plate_path) == (
            db.Status.done,
            "/out/sh010",
            "/p/b.mov",
        )
        assert {j.id: j.shot_id for j in s.exec(db.select(db.Job))} == {1: 1, 2: 1}
        assert [o.shot_id for o in s.exec(db.select(db.Output))] == [1]
        objects = {o.shot_id: o.name for o in s.exec(db.select(db.RotoObject))}
        assert objects == {1: "dancer", 3: "dog"}
        assert shots["sh020"].status == db.Status.pending


def test_heartbeat_revision_keeps_jobs_and_downgrades_crashed_to_failed(database_url):
    """0003 -> 0004: a running job from before heartbeats keeps its row (no heartbeat yet) and can
    become crashed; back to 0003, crashed jobs and shots read as failed with their reason."""
    old = create_engine(database_url)
    db.migrate(old, "0003")
    with old.begin() as conn:
        for sql in (
            "INSERT INTO project (id, name, created_at) VALUES (1, 'show', '2026-01-01')",
            "INSERT INTO shot (id, project_id, name, plate_path, status, updated_at) VALUES "
            "(1, 1, 'sh010', '/p/a.mov', 'running', '2026-01-02 10:00:00')",
            "INSERT INTO job (id, shot_id, plate_path, status, parameters, models, timings, "
            "started_at) VALUES (1, 1, '/p/a.mov', 'running', '{}', '{}', '{}', '2026-01-02')",
        ):
            conn.execute(text(sql))
    db.migrate(old)  # through 0004 to head, so the models match
    assert _differences(old) == []
    with db.session(database_url) as s:
        job = s.get(db.Job, 1)
        assert (job.status, job.heartbeat_at, job.host, job.pid) == (
            db.Status.running,
            None,
            None,
            None,
        )
        job.status, job.error = db.Status.crashed, "worker stopped"
        s.get(db.Shot, 1).status = db.Status.crashed
    db.get_engine.cache_clear()
    _downgrade(old, "0003")
    with old.connect() as conn:
        assert conn.execute(text("SELECT status, error FROM job")).one() == (
            "failed",
            "worker stopped",
        )
        assert conn.execute(text("SELECT status FROM shot")).scalar_one() == "failed"
        assert "heartbeat_at" not in {c["name"] for c in inspect(conn).get_columns("job")}
    db.migrate(old, "0004")
    old.dispose()


def test_start_frame_revision_keeps_outputs_and_records_the_host_start(database_url):
    """0004 -> 0005: outputs from before host frame numbers keep their rows with no start frame
    (plate frames); new ones record it; back to 0004 the column goes and the rows stay."""
    old = create_engine(database_url)
    db.migrate(old, "0004")
    with old.begin() as conn:
        for sql in (
            "INSERT INTO project (id, name, created_at) VALUES (1, 'show', '2026-01-01')",
            "INSERT INTO shot (id, project_id, name, plate_path, status, updated_at) VALUES "
            "(1, 1, 'sh010', '/p/a.mov', 'done', '2026-01-02 10:00:00')",
            "INSERT INTO job (id, shot_id, plate_path, status, parameters, models, timings, "
            "started_at) VALUES (1, 1, '/p/a.mov', 'done', '{}', '{}', '{}', '2026-01-02')",
            "INSERT INTO output (id, job_id, shot_id, kind, path, sha256) VALUES "
            "(1, 1, 1, 'nuke', 'roto/sh010.nk', 'ab')",
        ):
            conn.execute(text(sql))
    db.migrate(old, "0005")
    assert _differences(old) == []
    with db.session(database_url) as s:
        assert s.get(db.Output, 1).start_frame is None
        s.add(
            db.Output(
                job_id=1,
                shot_id=1,
                id=2,
                kind="fusion",
                path="roto/sh010.comp",
                sha256="cd",
                start_frame=0,
            )
        )
    with db.session(database_url) as s:
        starts = {o.kind: o.start_frame for o in s.exec(db.select(db.Output))}
        assert starts == {"nuke": None, "fusion": 0}
    db.get_engine.cache_clear()
    _downgrade(old, "0004")
    with old.connect() as conn:
        assert "start_frame" not in {c["name"] for c in inspect(conn).get_columns("output")}
        assert conn.execute(text("SELECT count(*) FROM output")).scalar_one() == 2
    db.migrate(old, "0005")
    old.dispose()


def _open(url: str) -> None:
    from rotoflow import db as database

    database.get_engine(url)


def test_processes_opening_a_new_sqlite_file_at_once_all_migrate_it(tmp_path):
    """Three ``rotoflow run`` of one shot on a fresh home failed one in three: Python's sqlite3
    runs DDL outside a transaction, so two processes created the tables ("table project already
    exists"). A file lock beside the database serialises them."""
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(url,)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * 6
