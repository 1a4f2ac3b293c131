"""Evaluated runs of a project side by side: :func:`compare_runs` (the form of an ablation table)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mousefear._io import atomic_write_text
from mousefear.core.project import ConfigLike, Project
from mousefear.errors import ProjectError
from mousefear.pipeline.evaluate import METRICS_FORMAT, evaluate
from mousefear.pipeline.plots import write_comparison_plot
from mousefear.pipeline.report import in_sample_tag, write_report
from mousefear.pipeline.runs import run_columns

__all__ = ["compare_runs"]

logger = logging.getLogger(__name__)

#: Columns of the comparison that describe a run's settings, in order.
SETTINGS_COLUMNS = ("backend", "model", "prompt", "prompt_hash", "icl_per_class", "icl_examples", "context",
                    "preprocessing", "in_sample")


def compare_runs(config: ConfigLike, runs: Sequence[str] | None = None) -> pd.DataFrame:
    """Put the evaluated runs of a project side by side (the form of an ablation table).

    Parameters
    ----------
    config : path-like or Project
        config.yaml of the project (or its folder), or an opened :class:`~mousefear.core.project.Project`.
    runs : sequence of str, optional
        Runs to compare, in this order. Default: every run with ``evaluation/<run>/metrics.json``, by name.
        A named run that has behaviour vectors but no evaluation yet is evaluated first (default settings).

    Returns
    -------
    pandas.DataFrame, one row per run (index ``run``)
        Settings columns ``backend`` (name), ``model`` (model id; ``motion-baseline`` for the motion
        backend), ``prompt`` (template name), ``prompt_hash`` (SHA-256 of the prompt text), ``icl_per_class``,
        ``icl_examples`` (number of in-context examples), ``context`` (the context mode of a model run),
        ``preprocessing`` (in a few words) and ``in_sample``
        (``in-sample`` when the run was calibrated on the labels it is scored on, ``partly in-sample`` when some
        scored frames were in-context examples, else empty; see :func:`~mousefear.pipeline.runs.run_columns`),
        then frame-level ``f1_<behaviour>`` for every behaviour, ``macro_f1, mcc, kappa, accuracy,
        balanced_accuracy``, window-level ``window_macro_f1``, bout-level ``bout_macro_f1``, and ``n_videos,
        labelled_frames, evaluated``. Also written to ``evaluation/comparison.csv``, drawn in
        ``evaluation/comparison.png``, and added as a section to each compared run's ``report.html``.

    Raises
    ------
    mousefear.errors.ProjectError
        No evaluated run, or a named run that is neither evaluated nor classified.
    """
    project = Project.open(config)
    base = project.paths.evaluation()
    evaluated = sorted(p.parent.name for p in base.glob("*/metrics.json")) if base.is_dir() else []
    if runs is None:
        if not evaluated:
            raise ProjectError(f"{base}: no evaluated run (evaluation/<run>/metrics.json); run "
                               "mousefear.evaluate first")
        runs = evaluated
    else:
        runs = [runs] if isinstance(runs, str) else list(dict.fromkeys(runs))
        available = sorted(set(evaluated) | set(project.runs()))
        for r in runs:
            if r not in evaluated:
                if r not in available:
                    raise ProjectError(f"Expected runs among {available or 'none'}, but got {r!r}")
                logger.info("Run %s has no evaluation yet: evaluating it", r)
                evaluate(project, run=r)
    rows = []
    all_behaviors: list[str] = []
    for r in runs:
        p = base / r / "metrics.json"
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ProjectError(f"{p}: Expected a metrics file written by mousefear.evaluate, but it cannot be "
                               f"read ({exc})") from None
        if d.get("format") != METRICS_FORMAT:
            raise ProjectError(f"{p}: Expected format {METRICS_FORMAT!r}, but got {d.get('format')!r}")
        for b in d["behaviors"]:
            if b not in all_behaviors:
                all_behaviors.append(b)
        fr = d["overall"]["frame"]
        row: dict[str, Any] = {"run": r, **run_columns(d.get("settings") or {}), "in_sample": in_sample_tag(d)}
        for b in d["behaviors"]:
            row[f"f1_{b}"] = fr["per_behavior"][b]["f1"]
        row.update({
            "macro_f1": fr["macro_f1"], "mcc": fr["mcc"], "kappa": fr["kappa"], "accuracy": fr["accuracy"],
            "balanced_accuracy": fr["balanced_accuracy"], "window_macro_f1": d["overall"]["window"]["macro_f1"],
            "bout_macro_f1": d["overall"]["bout"]["macro_f1"], "n_videos": d["n_videos_evaluated"],
            "labelled_frames": d["overall"]["labelled_frames"], "evaluated": d["evaluated"],
        })
        rows.append(row)
    table = pd.DataFrame(rows)
    metric_cols = [f"f1_{b}" for b in all_behaviors] + [
        "macro_f1", "mcc", "kappa", "accuracy", "balanced_accuracy", "window_macro_f1", "bout_macro_f1"]
    table = table.reindex(columns=["run", *SETTINGS_COLUMNS, *metric_cols, "n_videos", "labelled_frames",
                                   "evaluated"])
    for c in metric_cols:
        table[c] = pd.to_numeric(table[c], errors="coerce").astype(np.float64)
    for c in ("icl_per_class", "icl_examples"):
        table[c] = pd.to_numeric(table[c], errors="coerce").astype("Int64")
    table = table.set_index("run")
    if table["labelled_frames"].nunique() > 1 or table["n_videos"].nunique() > 1:
        logger.warning("The compared runs were scored on different sets of labelled frames (%s); their "
                       "metrics are not strictly comparable",
                       ", ".join(f"{r}: {n}" for r, n in table["labelled_frames"].items()))
    base.mkdir(parents=True, exist_ok=True)
    atomic_write_text(base / "comparison.csv", table.to_csv(float_format="%.6g", lineterminator="\n"))
    write_comparison_plot(table, base / "comparison.png")
    for r in runs:
        write_report(base / r, comparison=table)
    logger.info("Compared %d run(s): %s", len(runs), base / "comparison.csv")
    return table
