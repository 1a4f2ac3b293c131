"""The registry of sub-commands (``@command``) and the printing helpers the command modules share."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

Runner = Callable[[argparse.Namespace], int]
#: sub-command name -> (help text, function that adds its arguments to a parser and returns its runner)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], Runner]]] = {}


def command(name: str, help: str):
    """Register a sub-command: decorate the function that adds its arguments; it returns the runner."""

    def deco(add_args: Callable[[argparse.ArgumentParser], Runner]):
        COMMANDS[name] = (help, add_args)
        return add_args

    return deco


def print_files(what: str, files: Sequence[object]) -> None:
    """'wrote N <what>', then one line per file."""
    print(f"wrote {len(files)} {what}")
    for f in files:
        print(f"  {f}")


def print_registered(project, ids: Sequence[str]) -> None:
    """One line per video registered: id, subject, session, frames, fps."""
    print(f"registered {len(ids)} video(s)")
    for vid in ids:
        v = project.video(vid)
        print(f"  {v.id}: subject {v.subject or '-'}, session {v.session or '-'}, {v.n_frames} frames at "
              f"{v.fps:.6g} fps")
