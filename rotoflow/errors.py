"""Named errors. Every message names the offending value and, where there is a choice, the valid
choices, so that the CLI can print it as a one-line error."""


class RotoflowError(Exception):
    """Root of every error Rotoflow raises on purpose (bad input, missing model, failed export)."""


class PlateError(RotoflowError):
    """A plate cannot be read: missing file, empty folder, gap in a sequence, truncated movie."""


class PromptError(RotoflowError):
    """A prompt is invalid for its plate: unknown text, box outside the frame, frame out of range."""


class ModelNotAvailable(RotoflowError):
    """A model or its weights cannot be found or loaded."""


class ExportError(RotoflowError):
    """An export format cannot be written (unknown name or suffix, invalid shapes)."""


class RenderError(RotoflowError):
    """A render cannot be made as asked: an unknown kind or colour, an object not in the shot."""


class ConfigError(RotoflowError):
    """A setting has an invalid value."""


class GeometryError(RotoflowError, ValueError):
    """Invalid input to a geometry function (wrong array shape, too few control points)."""


class StorageError(RotoflowError):
    """Object storage refused a request: no such bucket or key, a bad ``s3://`` URL, missing or
    rejected credentials."""


class StorageUnavailable(StorageError):
    """Object storage could not be reached or answered with a server error (connection refused,
    timeout, 5xx, throttling): worth retrying."""


class InvalidName(RotoflowError):
    """A project, shot or object name is not one safe path component (empty, too long, a ``/``,
    a leading dot, ``..``)."""


class UnsafePath(RotoflowError):
    """A path Rotoflow would write resolves outside its root (through ``..`` or a symlink), or a
    root is not among the allowed ones."""


class RootNotAllowed(ConfigError):
    """A run asks for an output root or a plate outside the folders the settings allow
    (``ROTOFLOW_OUTPUT_ROOTS``, ``ROTOFLOW_PLATE_ROOTS``)."""


class LockTimeout(RotoflowError, TimeoutError):
    """A file lock (:func:`rotoflow.files.locked`) stayed held by another process past the
    time allowed to wait for it."""
