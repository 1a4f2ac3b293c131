"""The parser and entry point of the ``mousefear`` command: every sub-command of the command modules, in the order of
the workflow."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from mousefear._version import __version__
from mousefear.cli import analysis, project, runs  # noqa: F401 (importing them registers their sub-commands)
from mousefear.cli.registry import COMMANDS
from mousefear.errors import MousefearError

#: The sub-commands in the order of the workflow (``mousefear --help`` lists them so).
WORKFLOW_ORDER = ("create-project", "add-videos", "rename-video", "info", "check", "extract-exemplars", "label",
                  "import-labels", "label-exemplars", "check-model", "classify", "status", "window-table", "review",
                  "evaluate", "compare-runs", "smooth", "calibrate-probabilities", "ablate", "summarize",
                  "create-labeled-video", "calibrate-motion", "calibrate-hybrid", "suggest", "rethreshold",
                  "export-labels", "export-nwb")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command, in the order of the workflow."""
    parser = argparse.ArgumentParser(
        prog="mousefear",
        description="Behaviour vectors from fear-conditioning videos of mice with Qwen2.5-VL or Qwen3-VL.",
    )
    parser.add_argument("--version", action="version", version=f"mousefear {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging details")
    parser.add_argument("-q", "--quiet", action="store_true", help="log only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    order = [n for n in WORKFLOW_ORDER if n in COMMANDS] + [n for n in COMMANDS if n not in WORKFLOW_ORDER]
    for name in order:
        help_text, add_args = COMMANDS[name]
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_run=add_args(p))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mousefear`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args._run(args) or 0)
    except MousefearError as exc:
        print(f"mousefear {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (mousefear info | head): stop quietly, as cat and git do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout at exit
        return 128 + 13  # killed by SIGPIPE
    except OSError as exc:  # a file that cannot be read or written: the environment, not a bug
        from mousefear._io import os_error_message

        print(f"mousefear {args.command}: error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mousefear {args.command}: interrupted", file=sys.stderr)
        return 130
