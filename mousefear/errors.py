"""Exceptions raised by mousefear.

Every error that comes from bad input names the file (or config key) and what is wrong, in one line.
"""

from __future__ import annotations


class MousefearError(Exception):
    """Base class of every error mousefear raises on purpose."""


class ConfigError(MousefearError, ValueError):
    """config.yaml is missing, unreadable, or a key has the wrong type or value."""


class VideoError(MousefearError, ValueError):
    """A video is missing, unreadable, truncated or not a video."""


class ProjectError(MousefearError, ValueError):
    """The project folder is in a state that does not allow the request (exists already, duplicate id...)."""


class LabelError(MousefearError, ValueError):
    """A label file or export cannot be converted (unknown behaviour, overlapping bouts, bad times...)."""


class VectorFileError(MousefearError, ValueError):
    """A behaviour-vector file is not one, is damaged, or is newer than this version can read."""


class ModelError(MousefearError, RuntimeError):
    """A model cannot be loaded or run (weights missing, offline, wrong kind of model...)."""


class TaskError(MousefearError, RuntimeError):
    """Tasks on a cluster (or local processes) failed for good, could not be submitted, or did not end in time."""


class FileWriteError(MousefearError, OSError):
    """A file cannot be written: the disk is full, the folder is read-only or not writable.

    The message names the file meant (never a temporary name), the system's reason and what to do. It is also an
    :class:`OSError` (``errno`` and ``filename`` set), so code that catches ``OSError`` still catches it.
    """

    def __init__(self, message: str, errno: int | None = None, filename: str | None = None):
        OSError.__init__(self, errno, message, filename)
        self.message = message

    def __str__(self) -> str:
        return self.message
