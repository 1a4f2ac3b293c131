"""The ``mousefear`` command line: a thin layer over the public functions.

Each sub-command maps to one function of the Python API and takes the path of config.yaml first. Errors from
bad input, and files that cannot be read or written (full disk, read-only or unreadable folder), end the command
with a one-line message on stderr and exit status 2; unexpected errors keep their traceback.
"""

from mousefear.cli.app import WORKFLOW_ORDER, build_parser, main
from mousefear.cli.registry import COMMANDS

__all__ = ["COMMANDS", "WORKFLOW_ORDER", "build_parser", "main"]
