"""Reading and writing a project's config.yaml (the YAML boundary of :mod:`mousefear.core.settings`).

config.yaml is the one file people edit by hand, so it is read and written with ruamel.yaml's round-trip mode:
comments, key order and quoting survive a read-modify-write, and a value that was not changed is written back
byte for byte. Reading never writes. Keys missing from an older file are filled in memory from the template
(``templates/config.yaml``, the single source of every default) and only reach the file on the next explicit
save. The values are checked by :class:`mousefear.core.settings.Settings`, once, as the file is read.
"""

from __future__ import annotations

import copy
import io
import logging
import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from mousefear._io import atomic_write_text
from mousefear.errors import ConfigError

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.yaml"
CONFIG_VERSION = 1

#: Sub-folders of a project.
PROJECT_SUBFOLDERS = ("videos", "exemplars", "labels", "behavior-vectors", "evaluation", "cache")
#: Top-level keys whose entries are free-form (video paths, session patterns): not filled from the template.
_FREE_FORM = ("videos", "protocol")


def templates_dir() -> Path:
    """Folder of the templates (config.yaml, prompts/, report template).

    Installed packages carry them as ``mousefear/templates``; a source checkout has them at the top level.
    """
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    raise ConfigError(f"The mousefear templates folder is missing (looked in {package / 'templates'} and "
                      f"{package.parent / 'templates'}); reinstall mousefear.")


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines people wrote
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(type(None), _represent_null)
    return yaml


def _represent_null(representer, data):  # write None as `null`, not as an empty value
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def config_path(config: str | os.PathLike) -> Path:
    """Path of config.yaml, given either the file itself or the project folder that holds it."""
    path = Path(config).expanduser()
    if path.is_dir():
        path = path / CONFIG_NAME
    return path


def project_root(config: str | os.PathLike) -> Path:
    """Absolute path of the project folder of ``config`` (the folder holding config.yaml)."""
    return config_path(config).resolve().parent


@lru_cache(maxsize=1)
def _template_text() -> str:
    return (templates_dir() / CONFIG_NAME).read_text(encoding="utf-8")


def template_document() -> CommentedMap:
    """A fresh copy of the template config (every key with its default and its comments)."""
    return _yaml().load(_template_text())


def read_document(config: str | os.PathLike) -> tuple[Path, CommentedMap]:
    """Read config.yaml into a round-trip mapping with missing keys filled from the template (never writes).

    Returns
    -------
    path : Path
        The config.yaml read.
    document : CommentedMap
        Its content, comments kept for :func:`write_document`.

    Raises
    ------
    ConfigError
        The file is missing, not YAML, or not a mapping at the top level.
    """
    path = config_path(config)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file (expected the config.yaml of a mousefear project)")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        doc = _yaml().load(text)
    except Exception as exc:  # ruamel raises many kinds of errors; report them as one
        raise ConfigError(f"{path}: not a readable YAML file ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{path}: Expected a mapping of settings at the top level, but got {type(doc).__name__}")
    _fill_missing(doc, template_document())
    return path, doc


def _fill_missing(target: CommentedMap, template: CommentedMap) -> None:
    """Insert keys of ``template`` missing from ``target`` (recursively into mappings), in place."""
    for key, value in template.items():
        if key not in target:
            target[key] = copy.deepcopy(value)
        elif isinstance(value, Mapping) and isinstance(target[key], Mapping) and key not in _FREE_FORM:
            _fill_missing(target[key], value)


def dump_document(doc: Mapping) -> str:
    """The YAML text of a config mapping as :func:`write_document` writes it."""
    buf = io.StringIO()
    _yaml().dump(doc, buf)
    return buf.getvalue()


def write_document(path: Path, doc: Mapping) -> None:
    """Write a (validated) config mapping to ``path`` atomically, keeping comments and key order."""
    atomic_write_text(path, dump_document(doc))


def _last_leaf(node: Any) -> tuple[CommentedMap | None, Any]:
    """The mapping and key of the last key at the deepest level of nested block mappings."""
    parent, key = None, None
    while isinstance(node, CommentedMap) and len(node):
        key = next(reversed(node))
        parent, node = node, node[key]
    return parent, key


def move_trailing_comment(src: Any, dst: Any) -> None:
    """Move the comment lines that follow the block ``src`` so that they follow the block ``dst``.

    ruamel.yaml attaches the comments after a nested block (for example the header of the next section) to
    the block's last key. When entries are appended after that block, call this with the old last entry and
    the new one so the comments stay where a person wrote them, instead of ending up between entries.
    """
    p, k = _last_leaf(src)
    if p is None:
        return
    item = p.ca.items.get(k)
    if not item or len(item) < 3 or item[2] is None:
        return
    token = item[2]
    item[2] = None
    q, key = _last_leaf(dst)
    if q is None:
        return
    q.ca.items.setdefault(key, [None, None, None, None])[2] = token


def new_seq(items: Iterable[Any], flow: bool = True) -> CommentedSeq:
    """A YAML list (written inline as ``[a, b]`` when ``flow``), for values such as crop boxes."""
    seq = CommentedSeq(list(items))
    if flow:
        seq.fa.set_flow_style()
    return seq
