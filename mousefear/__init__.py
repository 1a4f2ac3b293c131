"""mousefear: behaviour vectors from fear-conditioning videos of mice."""

from mousefear._version import __version__

__all__ = ["__version__"]
