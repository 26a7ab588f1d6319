"""Rotoflow: AI rotoscoping pipeline. Core package: types, plate I/O, geometry, database, storage,
settings and CLI."""

__version__ = "0.1.0"
