"""Pipeline stages as plain functions (no Prefect): each reads the finished folders of the stages
before it, writes its own folder through :class:`rotoflow.workspace.ShotWorkspace` and returns a
:class:`rotoflow.workspace.StageOutput`. ``flows/`` and ``tasks/`` only sequence and wrap these."""
