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
