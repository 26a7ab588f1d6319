"""Model wrappers, one per ML model, behind the stage interfaces of :mod:`models.base`.

Model sets are chosen by name (``"lite"`` for the CPU set) through :func:`models.registry.load_model_set`.
"""
