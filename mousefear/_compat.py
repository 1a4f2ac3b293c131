"""TEMPORARY: the dict-based helpers of the first version, while modules move to Project and Settings.

Removed before the typed-project change lands; nothing new may import it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from mousefear.core.config import (  # noqa: F401
    CONFIG_NAME,
    PROJECT_SUBFOLDERS,
    move_trailing_comment,
    new_seq,
    save_config,
    template_document,
    templates_dir,
)
from mousefear.core.project import Project, ProjectPaths
from mousefear.core.settings import Settings, _plain
from mousefear.core.video import Video
from mousefear.errors import ConfigError


def load_config(config: Any, validate: bool = True):
    from mousefear.core.config import load_config as _load

    return config.document() if isinstance(config, Project) else _load(config, validate)


def template_config():
    return template_document()


def defaults() -> dict[str, Any]:
    return _plain(template_document())


def to_plain(node: Any) -> Any:
    return _plain(node)


def get(cfg: Mapping, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(f"config.yaml: missing key {key!r}")
        node = node[part]
    return node


def behavior_names(cfg: Mapping) -> list[str]:
    return [str(b["name"]) for b in cfg["behaviors"]]


def validate_config(cfg: Mapping, path: Any = CONFIG_NAME) -> None:
    Settings.from_mapping(cfg, path)


def classification_settings(cfg: Mapping) -> dict[str, Any]:
    cls = _plain(cfg["classification"])
    cls["motion"]["freezing_behavior"] = cfg["freezing_behavior"]
    return cls


def project_root(config: Any):
    from mousefear.core.config import project_root as _root

    return config.root if isinstance(config, Project) else _root(config)


def config_path(config: Any):
    from mousefear.core.config import config_path as _path

    return config.config_path if isinstance(config, Project) else _path(config)


def project_paths(config: str | os.PathLike) -> ProjectPaths:
    return ProjectPaths(project_root(config))


def registered_videos(config: Any, cfg: Mapping | None = None, videos: Iterable[str] | None = None) -> list[Video]:
    project = Project.open(config)
    return project.select_videos(videos)


def list_runs(config: Any) -> list[str]:
    return Project.open(config).runs()


def select_run(config: Any, run: str | None = None, cfg: Mapping | None = None) -> str:
    return Project.open(config).select_run(run)
