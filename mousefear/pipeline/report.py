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
    out = ['<div class="tablewrap"><table>', "<thead><tr>"]
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
    out.append("</tbody></table></div>")
    return "".join(out)


def _swatch(b: str, colors: Mapping[str, str]) -> str:
    return f'<span class="swatch" style="background:{colors.get(b, NONE_COLOR)}"></span>{html.escape(b)}'


def _img(path: Path, alt: str, caption: str = "") -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    cap = f'<p class="caption">{html.escape(caption)}</p>' if caption else ""
    return (f'<div class="figure"><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
            f"{cap}</div>")


def _value_html(v: Any) -> str:
    """A setting's value as escaped text: lists joined, dicts as ``key=value``, None as null."""
    if v is None:
        return "null"
    if isinstance(v, Mapping):
        return html.escape(", ".join(f"{k}={_value_text(x)}" for k, x in v.items())) or "(none)"
    if isinstance(v, list | tuple):
        return html.escape(", ".join(_value_text(x) for x in v)) or "(none)"
    return html.escape(_value_text(v))


def _value_text(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    return str(v)


def _settings_groups(d: Mapping[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The run's settings grouped for reading: (group, [(setting, value as HTML)])."""
    rec = dict(d.get("settings") or {})
    s = rec.get("settings") if isinstance(rec.get("settings"), Mapping) else None
    created = sorted(v["created"] for v in d["videos"] if v.get("created"))
    when = rec.get("created") or (created[0] if created and created[0] == created[-1]
                                  else f"{created[0]} to {created[-1]}" if created else None)
    if s is None or not isinstance(s.get("backend"), Mapping):  # attributes of a vector file (no run.json)
        shown = {"backend", "model_id", "model_revision", "prompt_template", "prompt_hash", "icl_example_ids",
                 "preprocessing", "window_seconds", "stride_seconds", "frames_per_window", "backend_settings",
                 "backend_resolved", "created", "run_created"}
        return [
            ("Model", [(k, _value_html(rec.get(k))) for k in ("backend", "model_id", "model_revision")]),
            ("Prompt", [("template", _value_html(rec.get("prompt_template"))),
                        ("sha256", _value_html(rec.get("prompt_hash")))]),
            ("In-context examples", [("examples", _value_html(rec.get("icl_example_ids")))]),
            ("Preprocessing", [(k, _value_html(v)) for k, v in (rec.get("preprocessing") or {}).items()]),
            ("Windows", [(k, _value_html(rec.get(k))) for k in ("window_seconds", "stride_seconds",
                                                                "frames_per_window")]),
            ("Backend parameters", [(k, _value_html(v)) for k, v in (rec.get("backend_settings") or {}).items()]
             + [(f"resolved: {k}", _value_html(v)) for k, v in (rec.get("backend_resolved") or {}).items()]),
            ("Provenance", [("created", _value_html(rec.get("run_created") or when))]
             + [(k, _value_html(v)) for k, v in rec.items() if k not in shown]),
        ]
    desc = s["backend"]
    params = dict(desc.get("settings") or {})
    prompt = s.get("prompt") or {}
    icl = s.get("icl") or {}
    model = [("backend", _value_html(desc.get("backend"))), ("model", _value_html(desc.get("model_id") or None))]
    if desc.get("model_revision"):
        model.append(("revision", _value_html(desc["model_revision"])))
    model += [(f"resolved: {k}", _value_html(v)) for k, v in (rec.get("resolved") or {}).items()]
    text = str(prompt.get("text") or "")
    prompt_rows = [("template", _value_html(prompt.get("template") or None)),
                   ("sha256", _value_html(prompt.get("sha256") or None))]
    if text:
        prompt_rows.append(("text", f"<details><summary>show the prompt ({len(text.splitlines())} lines)</summary>"
                                    f'<pre class="prompt">{html.escape(text)}</pre></details>'))
    labels = list(icl.get("labels") or [])
    ids = list(icl.get("example_ids") or [])
    examples = [f"{i} ({labels[k]})" if k < len(labels) else str(i) for k, i in enumerate(ids)]
    icl_rows = [("per class", _value_html(icl.get("per_class"))), ("seed", _value_html(icl.get("seed"))),
                ("examples", _value_html(examples))]
    runtime = set(desc.get("runtime") or [])
    backend_rows = [(k + (" (does not change results)" if k in runtime else ""), _value_html(v))
                    for k, v in params.items() if k not in ("behaviors", "model", "model_revision")]
    has_prompt = bool(prompt.get("template"))  # a video backend has neither prompt nor examples
    return [
        ("Model", model),
        ("Prompt", prompt_rows if has_prompt else []),
        ("In-context examples", icl_rows if has_prompt else []),
        ("Preprocessing", [(k, _value_html(v)) for k, v in (s.get("preprocessing") or {}).items()]),
        ("Windows", [(k, _value_html(v)) for k, v in (s.get("windows") or {}).items()]
         + [("frame level", _value_html(s.get("frame_level")))]),
        ("Backend parameters", backend_rows),
        ("Behaviours", [(b.get("name", ""), html.escape(str(b.get("definition", ""))))
                        for b in s.get("behaviors") or []]),
        ("Provenance", [("created", _value_html(when)), ("mousefear", _value_html(rec.get("mousefear_version"))),
                        ("settings sha256", _value_html(rec.get("settings_sha256")))]),
    ]


def _settings_section(d: Mapping[str, Any]) -> str:
    out = ['<table class="settings"><tbody>']
    for group, rows in _settings_groups(d):
        if not rows:
            continue
        out.append(f'<tr><th class="group" colspan="2">{html.escape(group)}</th></tr>')
        out += [f'<tr><td class="text">{html.escape(k)}</td><td class="text">{v}</td></tr>' for k, v in rows]
    out.append("</tbody></table>")
    return (f"<h2>Run settings</h2><p>From {html.escape(str(d.get('settings_source', '')))}.</p>" + "".join(out))


def in_sample_tag(data: Mapping[str, Any]) -> str:
    """``"in-sample"`` when the run was calibrated on the scored labels, ``"partly in-sample"`` when some scored
    frames were in-context examples or its decisions depend on a temperature fitted on them, else ``""`` (from
    ``metrics.json``)."""
    ins = data.get("in_sample") or {}
    if ins.get("calibrated"):
        return "in-sample"
    return "partly in-sample" if ins.get("icl_frames") or ins.get("probability_calibration") else ""


def _in_sample_banner(d: Mapping[str, Any]) -> str:
    ins = d.get("in_sample") or {}
    tag = in_sample_tag(d)
    if not tag:
        return ""
    parts = ['<div class="insample"><b>In-sample figures.</b> ']
    if ins.get("calibrated"):
        parts.append("The run's settings were chosen on the human labels of "
                     f"{html.escape(', '.join(ins.get('videos', [])))} (motion calibration from labels), the same "
                     "labels every figure marked <i>in-sample</i> is measured on: they show how well the settings fit "
                     "these labels, not how the run does on new videos. ")
        cv = ins.get("cross_validated") or {}
        if cv.get("f1") is not None:
            ci = cv.get("ci95") or [None, None]
            parts.append(f"Out of sample (thresholds chosen on the other {_fmt(cv.get('block_seconds'))[0]}-s blocks "
                         f"of time): freezing F1 {_fmt(cv['f1'])[0]} (95 % interval {_fmt(ci[0])[0]} to "
                         f"{_fmt(ci[1])[0]}). ")
        else:
            parts.append("There is no out-of-sample estimate: score more seconds (mousefear suggest lists those worth "
                         "scoring) and calibrate again, or evaluate on videos that were not calibrated on. ")
    if ins.get("icl_frames"):
        parts.append(f"{int(ins['icl_frames'])} scored frame(s) lie in the run's in-context example windows, which "
                     "the model was shown together with their labels. ")
    if (ins.get("probability_calibration") or {}).get("videos"):
        parts.append("The run's decisions depend on a temperature fitted on the labels of "
                     f"{html.escape(', '.join(ins['probability_calibration']['videos']))} (probability calibration).")
    parts.append("</div>")
    return "".join(parts)


def _mark(title: str, tag: str) -> str:
    return f"<h2>{title}" + (f'<span class="insample">{html.escape(tag)}</span>' if tag else "") + "</h2>"


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
<code>none</code> as a class. MCC is n/a when one side uses a single class only; kappa is n/a when both use one
and the same class only, and near 0 when the human labels hold a single class however well the run agrees (chance
agreement is then almost total: read accuracy and F1 for such a video).</dd>
<dt>Windows</dt><dd>The same metrics on the model's windows; a window's human label is the behaviour covering
most of its labelled frames (ties: first behaviour in project order); windows without labelled frames are left
out.</dd>
<dt>Bouts</dt><dd>Runs of consecutive frames of one behaviour (unlabelled frames end bouts). A predicted and a
human bout match when intersection / union &ge; the threshold; matching is one to one, greedy by IoU.</dd>
<dt>Percent time</dt><dd>Share of the labelled frames in each behaviour, human and predicted; difference =
predicted &minus; human in percentage points. The Pearson r of percent time across videos is shown only where it
can be evidence: at least 5 videos with labels, fewer than half of them at 0 % in the human labels or in the
predictions.</dd>
<dt>In-sample</dt><dd>A figure measured on the labels the run was tuned on: the motion thresholds chosen on these
labels (calibrate-motion from labels), or frames shown to the model as in-context examples. It says how well the
settings fit these labels, not how the run does on new videos.</dd>
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
    tag = in_sample_tag(d)
    parts.append(_in_sample_banner(d))
    notes = [n for n in d["notes"] if not n.startswith("IN-SAMPLE")]  # those are in the banner
    if notes:
        parts.append('<div class="notes"><b>Notes</b><ul>'
                     + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul></div>")
    parts.append(_settings_section(d))
    parts.append(_mark("Overall agreement", tag))
    parts.append(_table(_OVERALL_HEADERS, _overall_rows(ov), _OVERALL_KINDS))
    parts.append(_mark("Per behaviour: frames", tag))
    parts.append(_per_behavior_table(ov["frame"], colors))
    parts.append(_mark("Per behaviour: windows", tag))
    parts.append(_per_behavior_table(ov["window"], colors))
    parts.append(_mark(f"Per behaviour: bouts (IoU &ge; {d['bout_iou']})", tag))
    parts.append(_bout_table(ov["bout"], colors))
    parts.append(_mark("Confusion matrix (frames)", tag))
    if (folder / "confusion.png").is_file():
        parts.append(_img(folder / "confusion.png", "confusion matrix",
                          "Rows: human label; columns: predicted label (none = no prediction). Cells: count and "
                          "share of the row."))
    parts.append(_confusion_table(ov["frame"]["confusion"]))

    parts.append(_mark("Percent time per video", tag))
    if (folder / "percent_time.png").is_file():
        parts.append(_img(folder / "percent_time.png", "percent time, predicted vs human"))
    corr_rows = [[_swatch(b, colors), c["r"] if c.get("evidence", True) else None, c["n"], c["note"]]
                 for b, c in d["correlation"].items()]
    parts.append("<h3>Across videos: Pearson correlation of percent time, predicted vs human</h3>")
    parts.append("<p>Shown only where it can be evidence: at least 5 videos, and fewer than half of them at 0 % "
                 "in the human labels or in the predictions (n/a otherwise; the note says why).</p>")
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

    parts.append(_mark("Per video", tag))
    meta = {v["video_id"]: v for v in d["videos"]}
    parts.append(_group_table("video", d["per_video"], behaviors, extra=meta))
    missing = [v for v in d["videos"] if v["status"] != "evaluated"]
    if missing:
        parts.append("<p>Not evaluated (no labelled frames): "
                     + ", ".join(html.escape(v["video_id"]) for v in missing) + ".</p>")
    for key, groups in d["groups"].items():
        parts.append(_mark(f"By {html.escape(key)}", tag))
        parts.append(_group_table(key, groups, behaviors))

    parts.append("<h2>Ethograms</h2><p>Per video, bottom to top: predicted probabilities (stacked), the "
                 "predicted behaviour, and the human labels (blank = unlabelled). Time in seconds.</p>")
    for v in d["videos"]:
        p = folder / f"ethogram_{v['video_id']}.png"
        if p.is_file():
            parts.append(_img(p, f"ethogram of {v['video_id']}"))

    if d.get("protocol"):
        parts.append(_epochs_section(folder.parent.parent / "behavior-vectors" / d["run"] / "epochs.csv",
                                     d.get("freezing_behavior")))
    if comparison is not None:
        parts.append(_comparison_section(comparison, folder.parent / "comparison.png", d["run"]))
    parts.append(_DEFINITIONS)
    template = string.Template((templates_dir() / "report.html").read_text(encoding="utf-8"))
    page = template.substitute(title=html.escape(f"mousefear evaluation: {d['run']}"), body="\n".join(parts),
                               version=html.escape(__version__))
    out = folder / "report.html"
    atomic_write_text(out, page)
    return out


def _epochs_section(path: Path, freeze: str | None) -> str:
    """The epoch summary (``epochs.csv`` of :func:`mousefear.pipeline.summary.summarize`) as a table."""
    head = "<h2>Epoch summary (predicted)</h2>"
    if not path.is_file():
        return head + (f"<p>No epoch summary: {html.escape(str(path))} is missing (run <code>mousefear "
                       "summarize</code>).</p>")
    t = pd.read_csv(path, keep_default_na=False, na_values={c: [""] for c in ("freezing_latency_s",
                                                                           "freezing_mean_bout_s")})
    pct = f"{freeze}_percent" if freeze else None
    has_ci = {"freezing_percent_ci_low", "freezing_percent_ci_high"} <= set(t.columns)
    others = [c for c in t.columns if c.endswith("_percent") and c != pct]
    headers = ["subject", "session", "epoch", "start s", "end s", "covered s"]
    kinds = ["text", "text", "text", "percent", "percent", "percent"]
    if pct in t.columns:
        headers += [f"{freeze} %", *(["95% CI"] if has_ci else []), "bouts", "mean bout s", "latency s"]
        kinds += ["percent", *(["text"] if has_ci else []), "int", "percent", "percent"]
    headers += [c.replace("_percent", " %") for c in others]
    kinds += ["percent"] * len(others)
    rows = []
    for r in t.to_dict("records"):
        row = [r["subject"], r["session"], r["epoch"], r["start_s"], r["end_s"], r["covered_s"]]
        if pct in t.columns:
            ci = ([f"{r['freezing_percent_ci_low']:.1f} to {r['freezing_percent_ci_high']:.1f}"
                   if not (_isnan(r["freezing_percent_ci_low"]) or _isnan(r["freezing_percent_ci_high"]))
                   else "n/a"] if has_ci else [])
            row += [r[pct], *ci, r.get("freezing_bouts"), r.get("freezing_mean_bout_s"), r.get("freezing_latency_s")]
        row += [r[c] for c in others]
        rows.append([_plain(v) for v in row])
    note = ("<p>Per subject, session and epoch of the protocol in config.yaml, from the run's predictions (all "
            "frames with a prediction, not only the labelled ones); seconds from the start of the video. From "
            f"<code>{html.escape(path.name)}</code> of the run"
            + ("; the 95 % confidence interval is that of epochs.csv" if has_ci else "") + ".</p>")
    return head + note + _table(headers, rows, kinds)


#: Settings columns of the comparison table, as shown in the report.
_COMPARISON_TEXT = ("backend", "model", "prompt", "prompt_hash", "icl_per_class", "icl_examples", "preprocessing",
                    "in_sample")


def _comparison_section(table: pd.DataFrame, png: Path, this_run: str) -> str:
    parts = ["<h2>Comparison of runs</h2>",
             f"<p>Every evaluated run of the project (this run: <b>{html.escape(this_run)}</b>); metrics on "
             "frames unless named otherwise; <i>in_sample</i> marks runs tuned on the labels they are scored on. "
             "Regenerated by <code>mousefear compare-runs</code>.</p>"]
    if png.is_file():
        parts.append(_img(png, "comparison of runs"))
    cols = [c for c in table.columns if c != "evaluated"]
    kinds = []
    for c in cols:
        if c in ("n_videos", "labelled_frames", "icl_per_class", "icl_examples"):
            kinds.append("int")
        elif c in _COMPARISON_TEXT or not pd.api.types.is_float_dtype(table[c]):
            kinds.append("text")
        else:
            kinds.append("ratio")
    rows = []
    for r, row in table.iterrows():
        name = f"<b>{html.escape(str(r))}</b>" if r == this_run else html.escape(str(r))
        values = [_plain(row[c]) for c in cols]
        values = [v[:12] if c == "prompt_hash" and isinstance(v, str) else v for c, v in zip(cols, values, strict=True)]
        rows.append([name, *values])
    parts.append(_table(["run", *cols], rows, ["text", *kinds], raw_first=True))
    return "".join(parts)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
