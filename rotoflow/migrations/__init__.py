"""Alembic migrations of the project database (:mod:`rotoflow.db`); applied by
:func:`rotoflow.db.get_engine` on first use of a database URL."""
