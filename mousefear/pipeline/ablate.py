"""The ablation in one command: a grid of runs on the labelled videos, evaluated and compared (:func:`ablate`).

A *grid* (YAML; the default is ``templates/ablation.yaml``) names the settings of each run as changes to
config.yaml, by dotted key::

    base:                      # changes every run shares (optional)
      classification.model: Qwen/Qwen2.5-VL-7B-Instruct
    factors:                   # every combination of one level of each factor is a run (optional)
      context:
        no_icl: {classification.icl_per_class: 0}
        icl:    {classification.icl_per_class: 1}
      preprocessing:
        raw:          {classification.preprocessing.clahe: false}
        preprocessed: {classification.preprocessing.clahe: true}
    runs:                      # further runs by name (optional)
      motion_baseline: {classification.backend: motion}

A combination is called by its levels joined with ``+`` (``icl+preprocessed``), in the order of the factors. A
key must be a setting of config.yaml that defines a run (``classification.*`` but ``classification.run``,
``postprocess.*``, ``seed``); each key belongs to one factor. Every run's settings are checked (the checks of
config.yaml) before anything is classified, so a typo stops the ablation at once with one line naming the grid
file and the key.

Each run gets the name a classification with its settings gets (:func:`~mousefear.pipeline.runs.name_from_settings`),
so a run classified before with the same settings is the same run, and is used as it is. The runs are classified
on the labelled videos (those whose ``labels/<video_id>.csv`` labels a frame) one after the other; videos finished
before are skipped and an interrupted video resumes from its cache, so a stopped ablation, called again, continues
where it stopped. With ``postprocess.smoothing: hmm`` in a run's settings the smoothed run is the one compared.
Each run is evaluated (again only when its files or the labels are newer than its evaluation), then
:func:`~mousefear.pipeline.compare.compare_runs` puts them side by side: ``evaluation/comparison.csv`` and
``comparison.png`` as always, plus ``evaluation/ablation.csv`` (the same table with the grid's names and levels)
and ``evaluation/ablation.png`` (the plot with the grid's names).
"""

from __future__ import annotations

import difflib
import itertools
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mousefear._io import atomic_write_text
from mousefear.core.config import templates_dir
from mousefear.core.project import ConfigLike, Project
from mousefear.core.settings import Settings, key_paths
from mousefear.errors import ConfigError, LabelError, MousefearError
from mousefear.formats.labels import read_label_file

__all__ = ["GridRun", "ablate", "default_grid_path", "read_grid"]

logger = logging.getLogger(__name__)

#: What a grid may change: the settings that define a run.
GRID_PREFIXES = ("classification.", "postprocess.")
GRID_KEYS = ("seed",)
#: ... except the run's name, which the ablation gives.
NOT_IN_GRID = ("classification.run",)


@dataclass(frozen=True)
class GridRun:
    """One run of a grid.

    Attributes
    ----------
    label : str
        Its name in the grid: the levels joined with ``+`` (``icl+preprocessed``), or the name under ``runs``.
    levels : dict
        Factor -> level (empty for a run under ``runs``).
    changes : dict
        Dotted key of config.yaml -> value: ``base`` then the levels' (or the run's) changes.
    """

    label: str
    levels: dict[str, str]
    changes: dict[str, Any]


def default_grid_path() -> Path:
    """``templates/ablation.yaml``: no ICL / ICL / temporal / autoregressive, each without and with preprocessing."""
    return templates_dir() / "ablation.yaml"


def _check_changes(path: Path, where: str, node: Any, known: set[str]) -> dict[str, Any]:
    if node is None:
        return {}
    if not isinstance(node, Mapping):
        raise ConfigError(f"{path}: Expected {where} to be a mapping of config.yaml keys to values, but got "
                          f"{type(node).__name__}")
    out = {}
    for key, value in node.items():
        key = str(key)
        if key not in known:
            section, _, leaf = key.rpartition(".")
            siblings = sorted(k.rpartition(".")[2] for k in known if k.rpartition(".")[0] == section)
            close = difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.6)
            hint = f" (did you mean {section + '.' if section else ''}{close[0]}?)" if close else ""
            raise ConfigError(f"{path}: unknown setting {key} in {where}: config.yaml of this mousefear has no such "
                              f"key{hint}")
        if key in NOT_IN_GRID or not (key.startswith(GRID_PREFIXES) or key in GRID_KEYS):
            raise ConfigError(f"{path}: {key} in {where} is not a setting a grid changes (classification.* but "
                              "classification.run, postprocess.*, seed)")
        out[key] = value
    return out


def read_grid(path: str | os.PathLike | None = None) -> list[GridRun]:
    """Read and check an ablation grid (the format is in the module's docstring and docs/postprocessing.md).

    Parameters
    ----------
    path
        The grid's YAML file; default :func:`default_grid_path`.

    Returns
    -------
    list of GridRun
        The combinations of the factors (the first factor varying slowest), then the named runs.

    Raises
    ------
    ConfigError
        The file cannot be read, has another layout, names a key config.yaml does not know or a grid does not
        change, gives one key to two factors, or names no run; the message names the file.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    path = Path(path) if path is not None else default_grid_path()
    try:
        doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable YAML grid ({str(exc).splitlines()[0] if str(exc) else exc})") \
            from None
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{path}: Expected a mapping with base, factors and runs, but got {type(doc).__name__}")
    extra = sorted(set(map(str, doc)) - {"base", "factors", "runs"})
    if extra:
        raise ConfigError(f"{path}: unknown key {extra[0]}; a grid has base, factors and runs")
    known = set(key_paths(Settings))
    base = _check_changes(path, "base", doc.get("base"), known)
    factors = doc.get("factors") or {}
    if not isinstance(factors, Mapping):
        raise ConfigError(f"{path}: Expected factors to be a mapping of factor -> level -> settings, but got "
                          f"{type(factors).__name__}")
    levels: dict[str, dict[str, dict[str, Any]]] = {}
    owner: dict[str, str] = {}
    for factor, lv in factors.items():
        if not isinstance(lv, Mapping) or not lv:
            raise ConfigError(f"{path}: Expected factors.{factor} to be a mapping of level -> settings, but got "
                              f"{lv!r}")
        levels[str(factor)] = {str(name): _check_changes(path, f"factors.{factor}.{name}", changes, known)
                               for name, changes in lv.items()}
        for key in {k for changes in levels[str(factor)].values() for k in changes}:
            if key in owner:
                raise ConfigError(f"{path}: factors {owner[key]} and {factor} both set {key}; each key belongs to "
                                  "one factor")
            if key in base:
                raise ConfigError(f"{path}: {key} is set in base and by factor {factor}; give it one place")
            owner[key] = str(factor)
    out = []
    for combo in itertools.product(*[list(v.items()) for v in levels.values()]) if levels else []:
        changes = dict(base)
        for _, level_changes in combo:
            changes.update(level_changes)
        out.append(GridRun(label="+".join(name for name, _ in combo),
                           levels={f: name for f, (name, _) in zip(levels, combo, strict=True)}, changes=changes))
    runs = doc.get("runs") or {}
    if not isinstance(runs, Mapping):
        raise ConfigError(f"{path}: Expected runs to be a mapping of name -> settings, but got {type(runs).__name__}")
    for name, changes in runs.items():
        if str(name) in {r.label for r in out}:
            raise ConfigError(f"{path}: run {name} is named like a combination of the factors; rename it")
        out.append(GridRun(label=str(name), levels={},
                           changes={**base, **_check_changes(path, f"runs.{name}", changes, known)}))
    if not out:
        raise ConfigError(f"{path}: Expected factors or runs, but the grid names no run")
    return out


def _labelled_videos(project: Project, videos: Iterable[str] | str | None) -> list[str]:
    ids = []
    for v in project.select_videos(videos):
        path = project.paths.label_file(v.id)
        if path.is_file() and (read_label_file(path, project.behaviors, n_frames=v.n_frames) != "").any():
            ids.append(v.id)
    if not ids:
        raise LabelError(f"{project.paths.labels}: Expected label files with labelled frames for the videos of the "
                         "ablation, but found none; import human labels first (mousefear import-labels)")
    return ids


def _evaluation_current(project: Project, run: str, ids: list[str]) -> bool:
    """Whether ``evaluation/<run>/metrics.json`` covers exactly these videos and is newer than their vector and
    label files."""
    path = project.paths.evaluation(run) / "metrics.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        stamp = path.stat().st_mtime_ns
    except (OSError, ValueError):
        return False
    if sorted(v.get("video_id") for v in data.get("videos", [])) != sorted(ids):
        return False
    files = [project.paths.vector_file(run, v) for v in ids] + [project.paths.label_file(v) for v in ids]
    return all(f.is_file() and f.stat().st_mtime_ns <= stamp for f in files)


def ablate(
    config: ConfigLike,
    grid: str | os.PathLike | None = None,
    *,
    videos: Iterable[str] | str | None = None,
    backend: Callable[[Settings], Any] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run a grid of runs on the labelled videos, evaluate them and compare them (the ablation table).

    The grid format, the names of the runs, resume and the files written are described in
    :mod:`mousefear.pipeline.ablate` and docs/postprocessing.md.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.
    grid
        The grid's YAML file; default ``templates/ablation.yaml`` (no ICL / ICL / temporal / autoregressive,
        each without and with preprocessing).
    videos
        Only these of the labelled videos (default: every video with a label file that labels a frame).
    backend
        Builds the backend of each run from its settings (default: the one the settings name); for custom backends.
    progress
        Show progress bars.

    Returns
    -------
    pandas.DataFrame
        One row per run of the grid, indexed by run name: ``grid_run`` (its name in the grid), one column per
        factor (its level), then the columns of :func:`~mousefear.pipeline.compare.compare_runs`. Also written to
        ``evaluation/ablation.csv`` and drawn in ``evaluation/ablation.png``.

    Raises
    ------
    ConfigError
        The grid is not valid, or a run's settings are refused by the checks of config.yaml (the message names
        the grid file and the run).
    LabelError
        No video of the ablation has labelled frames.
    ProjectError, ModelError, VideoError
        As :func:`~mousefear.pipeline.classify.classify_videos` (what was classified is kept, and the log says at
        which run the ablation stopped; call again to go on).
    """
    from mousefear.pipeline.classify import classify_videos
    from mousefear.pipeline.compare import compare_runs
    from mousefear.pipeline.evaluate import evaluate
    from mousefear.pipeline.plots import write_comparison_plot
    from mousefear.pipeline.smoothing import smooth

    project = Project.open(config)
    grid_path = Path(grid) if grid is not None else default_grid_path()
    entries = read_grid(grid_path)
    planned = []
    for entry in entries:  # every run's settings are checked before anything is classified
        try:
            settings = project.settings.updated({**entry.changes, "classification.run": None})
        except ConfigError as exc:
            raise ConfigError(f"{grid_path}: run {entry.label}: {exc}") from None
        planned.append((entry, settings))
    ids = _labelled_videos(project, videos)
    logger.info("Ablation of %d run(s) (%s) on %d labelled video(s): %s", len(planned), grid_path, len(ids),
                ", ".join(ids))
    compared: dict[str, list[GridRun]] = {}
    for i, (entry, settings) in enumerate(planned, 1):
        other = project.with_settings(settings)
        logger.info("Ablation run %d of %d: %s", i, len(planned), entry.label)
        try:
            name = classify_videos(other, videos=ids, backend=backend(settings) if backend else None,
                                   progress=progress)
            if settings.postprocess.smoothing != "none":
                name = smooth(other, name, videos=ids)
        except MousefearError:
            logger.error("Ablation stopped at run %d of %d (%s); what was classified is kept: call ablate again to go "
                         "on", i, len(planned), entry.label)
            raise
        if _evaluation_current(other, name, ids):
            logger.info("Run %s: evaluated already", name)
        else:
            evaluate(other, run=name, videos=ids, plots=progress)
        compared.setdefault(name, []).append(entry)
    table = compare_runs(project, list(compared))
    factors = list(dict.fromkeys(f for e in entries for f in e.levels))
    front = pd.DataFrame({"grid_run": [" = ".join(e.label for e in compared[r]) for r in table.index],
                          **{f: [compared[r][0].levels.get(f, "") for r in table.index] for f in factors}},
                         index=table.index)
    out = pd.concat([front, table], axis=1)
    folder = project.paths.evaluation()
    atomic_write_text(folder / "ablation.csv", out.to_csv(float_format="%.6g", lineterminator="\n"))
    write_comparison_plot(table.set_axis(pd.Index(front["grid_run"].to_numpy(), name="run")), folder / "ablation.png")
    best = out["macro_f1"].astype(np.float64)
    logger.info("Ablation: %d run(s) compared in %s; highest frame macro F1: %s", len(out), folder / "ablation.csv",
                out.loc[best.idxmax(), "grid_run"] if best.notna().any() else "n/a")
    return out

