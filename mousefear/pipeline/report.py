"""The self-contained HTML report of an evaluation.

The report (``evaluation/<run>/report.html``) is one HTML file with its CSS inline and every image embedded as a
base64 ``data:`` URI; it opens in any browser, offline, and can be mailed as it is. It is rendered from the
files of the evaluation folder (``metrics.json`` and the PNGs drawn by :mod:`mousefear.pipeline.plots`), so it
can be regenerated at any time. Behaviours have the colours of :func:`~mousefear.pipeline.plots.behavior_colors`.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mousefear._io import atomic_write_text
from mousefear._version import __version__
from mousefear.core.config import templates_dir
from mousefear.pipeline.plots import NONE_COLOR, behavior_colors

__all__ = ["write_report"]


def _isnan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _fmt(v: Any, kind: str = "ratio") -> tuple[str, str]:
    """(text, css class) of a cell."""
    if _isnan(v):
        return "n/a", "na"
    if isinstance(v, bool):
        return str(v).lower(), "text"
    if isinstance(v, int | np.integer):
        return str(int(v)), ""
    if isinstance(v, float | np.floating):
        if kind == "text":
            return (str(int(v)) if float(v).is_integer() else str(v)), "text"
        if kind == "int":
            return str(int(round(v))), ""
        if kind == "percent":
            return f"{v:.1f}", ""
        if kind == "pp":
            return f"{v:+.1f}", ""
        return f"{v:.3f}", ""
    return html.escape(str(v)), "text"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], kinds: Sequence[str] | None = None,
           raw_first: bool = False) -> str:
    """An HTML table; ``kinds`` gives each column's number format (ratio, percent, pp, int, text)."""
    kinds = list(kinds or ["ratio"] * len(headers))
    out = ["<table>", "<thead><tr>"]
    for i, h in enumerate(headers):
        cls = ' class="text"' if kinds[i] == "text" else ""
        out.append(f"<th{cls}>{html.escape(h)}</th>")
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        for i, v in enumerate(row):
            if i == 0 and raw_first:
                out.append(f'<td class="text">{v}</td>')
                continue
            text, cls = _fmt(v, kinds[i])
            out.append(f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _swatch(b: str, colors: Mapping[str, str]) -> str:
    return f'<span class="swatch" style="background:{colors.get(b, NONE_COLOR)}"></span>{html.escape(b)}'


def _img(path: Path, alt: str, caption: str = "") -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    cap = f'<p class="caption">{html.escape(caption)}</p>' if caption else ""
    return (f'<div class="figure"><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
            f"{cap}</div>")


def _settings_rows(settings: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for k, v in settings.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            rows.extend(_settings_rows(v, key + "."))
        elif isinstance(v, list):
            rows.append((key, ", ".join(str(x) for x in v) if v else "(none)"))
        else:
            rows.append((key, "null" if v is None else str(v)))
    return rows


_FIRST_SETTINGS = ("run", "backend", "model_id", "model", "model_revision", "prompt", "prompt_hash",
                   "icl_example_ids", "preprocessing", "created")


def _settings_section(d: Mapping[str, Any]) -> str:
    settings = dict(d.get("settings") or {})
    ordered = {k: settings[k] for k in _FIRST_SETTINGS if k in settings}
    ordered.update({k: v for k, v in settings.items() if k not in ordered})
    if "created" not in ordered:
        created = sorted(v["created"] for v in d["videos"] if v.get("created"))
        if created:
            ordered["created"] = created[0] if created[0] == created[-1] else f"{created[0]} to {created[-1]}"
    rows = _settings_rows(ordered)
    return (f"<h2>Run settings</h2><p>From {html.escape(str(d.get('settings_source', '')))}.</p>"
            + _table(["setting", "value"], rows, ["text", "text"]))


def _overall_rows(s: Mapping[str, Any]) -> list[list[Any]]:
    rows = []
    for lvl in ("frame", "window"):
        x = s[lvl]
        rows.append([lvl + "s", x["n"], x["no_prediction"], x["accuracy"], x["balanced_accuracy"], x["macro_f1"],
                     x["mcc"], x["kappa"]])
    rows.append(["bouts", None, None, None, None, s["bout"]["macro_f1"], None, None])
    return rows


_OVERALL_HEADERS = ["level", "n", "no prediction", "accuracy", "balanced accuracy", "macro F1", "MCC", "kappa"]
_OVERALL_KINDS = ["text", "int", "int", "ratio", "ratio", "ratio", "ratio", "ratio"]


def _per_behavior_table(level: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    rows = [[_swatch(b, colors), x["precision"], x["recall"], x["f1"], x["f2"], x["support"], x["predicted"]]
            for b, x in level["per_behavior"].items()]
    return _table(["behaviour", "precision", "recall", "F1", "F2", "support", "predicted"], rows,
                  ["text", "ratio", "ratio", "ratio", "ratio", "int", "int"], raw_first=True)


def _bout_table(bout: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    rows = [[_swatch(b, colors), x["human_bouts"], x["predicted_bouts"], x["matched"], x["precision"], x["recall"],
             x["f1"], x["mean_iou"]] for b, x in bout["per_behavior"].items()]
    return _table(["behaviour", "human bouts", "predicted bouts", "matched", "precision", "recall", "F1",
                   "mean IoU"], rows, ["text", "int", "int", "int", "ratio", "ratio", "ratio", "ratio"], raw_first=True)


def _confusion_table(conf: Mapping[str, Any]) -> str:
    rows = [[r, *counts, sum(counts)] for r, counts in zip(conf["rows"], conf["counts"], strict=True)]
    return _table(["human \\ predicted", *conf["columns"], "total"], rows,
                  ["text"] + ["int"] * (len(conf["columns"]) + 1))


def _group_table(key: str, groups: Mapping[str, Any], behaviors: Sequence[str], extra: Mapping[str, Any] | None = None
                 ) -> str:
    headers = [key, *(["subject", "session"] if extra else []), "labelled frames", "accuracy", "macro F1", "MCC",
               "kappa", *[f"F1 {b}" for b in behaviors], "bout macro F1"]
    kinds = ["text", *(["text", "text"] if extra else []), "int", "ratio", "ratio", "ratio", "ratio",
             *["ratio"] * len(behaviors), "ratio"]
    rows = []
    for g, s in groups.items():
        f = s["frame"]
        meta = [extra[g]["subject"], extra[g]["session"]] if extra else []
        rows.append([g, *meta, s["labelled_frames"], f["accuracy"], f["macro_f1"], f["mcc"], f["kappa"],
                     *[f["per_behavior"][b]["f1"] for b in behaviors], s["bout"]["macro_f1"]])
    return _table(headers, rows, kinds)


_DEFINITIONS = """<h2>Definitions</h2><dl class="defs">
<dt>Scored frames</dt><dd>Only frames with a human label are scored. A frame without a prediction (no window
covers it, or the model's answer could not be parsed) is kept: it is counted in the column <code>none</code>,
as a miss of its true behaviour (lower recall) and as a wrong answer for accuracy, kappa and MCC.</dd>
<dt>Precision, recall, F1, F2</dt><dd>Per behaviour, one against the rest: precision = TP / (TP + FP),
recall = TP / (TP + FN), F1 = 2TP / (2TP + FP + FN), F2 = 5TP / (5TP + 4FN + FP) (weighs recall higher).
Support = frames with this human label; predicted = frames predicted as it. <i>n/a</i> marks 0/0: precision of a
behaviour never predicted, recall of a behaviour absent from the labels, F1 of a behaviour in neither.</dd>
<dt>Macro F1</dt><dd>Mean F1 over the behaviours present in the human labels or the predictions.</dd>
<dt>Balanced accuracy</dt><dd>Mean recall over the behaviours present in the human labels.</dd>
<dt>MCC, kappa</dt><dd>Matthews correlation (multi-class) and Cohen's kappa over all classes, with
<code>none</code> as a class; n/a when undefined (one side uses a single class only).</dd>
<dt>Windows</dt><dd>The same metrics on the model's windows; a window's human label is the behaviour covering
most of its labelled frames (ties: first behaviour in project order); windows without labelled frames are left
out.</dd>
<dt>Bouts</dt><dd>Runs of consecutive frames of one behaviour (unlabelled frames end bouts). A predicted and a
human bout match when intersection / union &ge; the threshold; matching is one to one, greedy by IoU.</dd>
<dt>Percent time</dt><dd>Share of the labelled frames in each behaviour, human and predicted; difference =
predicted &minus; human in percentage points. Pearson r across videos needs at least 3 videos with labels.</dd>
</dl>"""


def write_report(folder: str | os.PathLike, comparison: pd.DataFrame | None = None) -> Path:
    """Render ``report.html`` of an evaluation folder from its ``metrics.json`` and PNG files.

    Parameters
    ----------
    folder : path-like
        ``evaluation/<run>/`` as written by :func:`mousefear.pipeline.evaluate.evaluate`.
    comparison : pandas.DataFrame, optional
        The table of :func:`mousefear.pipeline.compare.compare_runs`; adds a comparison section (with
        ``../comparison.png`` if present).

    Returns
    -------
    pathlib.Path
        The report written (atomically): one self-contained HTML file.
    """
    folder = Path(folder)
    d = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    behaviors = d["behaviors"]
    colors = behavior_colors(behaviors)
    ov = d["overall"]
    fps_by_video = {v["video_id"]: v["fps"] for v in d["videos"]}
    labelled_s = sum(d["per_video"][v]["labelled_frames"] / fps_by_video[v] for v in d["per_video"])
    parts = [f"<h1>Evaluation of run {html.escape(d['run'])}</h1>",
             f'<p class="sub">Evaluated {html.escape(d["evaluated"])} with mousefear '
             f'{html.escape(d["mousefear_version"])}: {d["n_videos_evaluated"]} of {d["n_videos"]} video(s) have '
             f'human labels; {ov["labelled_frames"]} labelled frames ({labelled_s:.1f} s). Bout match threshold: '
             f'IoU &ge; {d["bout_iou"]}.</p>']
    if d["notes"]:
        parts.append('<div class="notes"><b>Notes</b><ul>'
                     + "".join(f"<li>{html.escape(n)}</li>" for n in d["notes"]) + "</ul></div>")
    parts.append(_settings_section(d))
    parts.append("<h2>Overall agreement</h2>")
    parts.append(_table(_OVERALL_HEADERS, _overall_rows(ov), _OVERALL_KINDS))
    parts.append("<h2>Per behaviour: frames</h2>")
    parts.append(_per_behavior_table(ov["frame"], colors))
    parts.append("<h2>Per behaviour: windows</h2>")
    parts.append(_per_behavior_table(ov["window"], colors))
    parts.append(f"<h2>Per behaviour: bouts (IoU &ge; {d['bout_iou']})</h2>")
    parts.append(_bout_table(ov["bout"], colors))
    parts.append("<h2>Confusion matrix (frames)</h2>")
    if (folder / "confusion.png").is_file():
        parts.append(_img(folder / "confusion.png", "confusion matrix",
                          "Rows: human label; columns: predicted label (none = no prediction). Cells: count and "
                          "share of the row."))
    parts.append(_confusion_table(ov["frame"]["confusion"]))

    parts.append("<h2>Percent time per video</h2>")
    if (folder / "percent_time.png").is_file():
        parts.append(_img(folder / "percent_time.png", "percent time, predicted vs human"))
    corr_rows = [[_swatch(b, colors), c["r"], c["n"], c["note"]] for b, c in d["correlation"].items()]
    parts.append("<h3>Across videos: Pearson correlation of percent time, predicted vs human</h3>")
    parts.append(_table(["behaviour", "Pearson r", "n videos", "note"], corr_rows,
                        ["text", "ratio", "int", "text"], raw_first=True))
    pt_rows = []
    for vid, s in d["per_video"].items():
        for b in [*behaviors, "none"]:
            x = s["percent_time"][b]
            pt_rows.append([vid, b, x["human"], x["predicted"], x["difference"]])
    parts.append("<h3>Per video (percent of labelled time)</h3>")
    parts.append(_table(["video", "behaviour", "human %", "predicted %", "difference (pp)"], pt_rows,
                        ["text", "text", "percent", "percent", "pp"]))

    parts.append("<h2>Per video</h2>")
    meta = {v["video_id"]: v for v in d["videos"]}
    parts.append(_group_table("video", d["per_video"], behaviors, extra=meta))
    missing = [v for v in d["videos"] if v["status"] != "evaluated"]
    if missing:
        parts.append("<p>Not evaluated (no labelled frames): "
                     + ", ".join(html.escape(v["video_id"]) for v in missing) + ".</p>")
    for key, groups in d["groups"].items():
        parts.append(f"<h2>By {html.escape(key)}</h2>")
        parts.append(_group_table(key, groups, behaviors))

    parts.append("<h2>Ethograms</h2><p>Per video, bottom to top: predicted probabilities (stacked), the "
                 "predicted behaviour, and the human labels (blank = unlabelled). Time in seconds.</p>")
    for v in d["videos"]:
        p = folder / f"ethogram_{v['video_id']}.png"
        if p.is_file():
            parts.append(_img(p, f"ethogram of {v['video_id']}"))

    if comparison is not None:
        parts.append(_comparison_section(comparison, folder.parent / "comparison.png", d["run"]))
    parts.append(_DEFINITIONS)
    template = string.Template((templates_dir() / "report.html").read_text(encoding="utf-8"))
    page = template.substitute(title=html.escape(f"mousefear evaluation: {d['run']}"), body="\n".join(parts),
                               version=html.escape(__version__))
    out = folder / "report.html"
    atomic_write_text(out, page)
    return out


def _comparison_section(table: pd.DataFrame, png: Path, this_run: str) -> str:
    parts = ["<h2>Comparison of runs</h2>",
             f"<p>Every evaluated run of the project (this run: <b>{html.escape(this_run)}</b>); metrics on "
             "frames unless named otherwise. Regenerated by <code>mousefear compare-runs</code>.</p>"]
    if png.is_file():
        parts.append(_img(png, "comparison of runs"))
    cols = [c for c in table.columns if c != "evaluated"]
    kinds = []
    for c in cols:
        if c in ("n_videos", "labelled_frames"):
            kinds.append("int")
        elif pd.api.types.is_float_dtype(table[c]) and c not in ("icl_per_class", "icl_examples"):
            kinds.append("ratio")
        else:
            kinds.append("text")
    rows = []
    for r, row in table.iterrows():
        name = f"<b>{html.escape(str(r))}</b>" if r == this_run else html.escape(str(r))
        rows.append([name, *[_plain(row[c]) for c in cols]])
    parts.append(_table(["run", *cols], rows, ["text", *kinds], raw_first=True))
    return "".join(parts)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
