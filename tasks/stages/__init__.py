"""Pipeline stages as plain functions (no Prefect): each reads the finished folders of the stages
before it, writes its own folder through :class:`rotoflow.storage.ShotWorkspace` and returns a
:class:`rotoflow.storage.StageOutput`. ``flows/`` and ``tasks/`` only sequence and wrap these."""
