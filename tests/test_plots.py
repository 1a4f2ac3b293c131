"""Plots (mousefear.pipeline.plots): colours, the ethogram (also as a panel of other figures, with epochs), no
pyplot. The HTML report itself is checked on a real evaluation in test_evaluate.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from mousefear.pipeline.plots import (
    NONE_COLOR,
    behavior_colors,
    plot_comparison,
    plot_confusion,
    plot_ethogram,
    plot_percent_time,
    save_figure,
)

B = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


def test_behavior_colors_fixed_distinct_and_stable():
    c = behavior_colors(B)
    assert list(c) == B and len(set(c.values())) == len(B)
    assert c["freezing"] == "#0072B2" and c["fleeing"] == "#D55E00"
    # a subset or another order keeps each default behaviour's colour
    assert behavior_colors(["fleeing", "freezing"]) == {"fleeing": c["fleeing"], "freezing": c["freezing"]}
    custom = behavior_colors(["freezing", "sniffing", "digging", "none"])
    assert custom["freezing"] == c["freezing"] and custom["none"] == NONE_COLOR
    assert len({custom["sniffing"], custom["digging"], custom["freezing"]}) == 3
    assert custom == behavior_colors(["freezing", "sniffing", "digging", "none"])
    many = behavior_colors([f"b{i}" for i in range(20)])
    assert len(set(list(many.values())[:17])) == 17  # every palette colour is used before one repeats


def _bars(ax, y0):
    """Colour -> list of (x, width) of the broken_barh collections drawn at height y0."""
    out = {}
    for coll in ax.collections:
        paths = coll.get_paths()
        if not paths or not hasattr(coll, "get_facecolor"):
            continue
        verts = paths[0].vertices
        if not np.isclose(verts[:, 1].min(), y0):
            continue
        color = to_hex(coll.get_facecolor()[0])
        out.setdefault(color, []).extend(
            (round(float(p.vertices[:, 0].min()), 6), round(float(np.ptp(p.vertices[:, 0])), 6)) for p in paths)
    return out


def test_ethogram_draws_bands_in_seconds_with_colours():
    fps = 10.0
    pred = np.array(["freezing"] * 20 + [""] * 5 + ["exploring"] * 15, dtype=object)
    human = np.array(["freezing"] * 25 + [""] * 5 + ["exploring"] * 10, dtype=object)
    probs = np.zeros((40, 5))
    probs[:20, 0] = 1
    probs[20:25] = np.nan
    probs[25:, 1] = 1
    fig = plot_ethogram(None, pred, probs, B, fps, human=human, title="m1")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (s)" and ax.get_xlim() == (0.0, 4.0)
    assert [t.get_text() for t in ax.get_yticklabels()][-2:] == ["predicted", "human"]
    colors = behavior_colors(B)
    predicted = _bars(ax, 1.1)
    assert predicted[colors["freezing"].lower()] == [(0.0, 2.0)]
    assert predicted[colors["exploring"].lower()] == [(2.5, 1.5)]
    assert predicted[NONE_COLOR.lower()] == [(2.0, 0.5)]
    hum = _bars(ax, 1.1 + 0.35 + 0.08)
    assert hum[colors["freezing"].lower()] == [(0.0, 2.5)] and hum[colors["exploring"].lower()] == [(3.0, 1.0)]
    assert NONE_COLOR.lower() not in hum  # unlabelled stays blank
    assert ax.get_title() == "m1"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [*B, "no prediction"]


def test_ethogram_into_given_axes_with_epochs_and_indices():
    fig = Figure(figsize=(8, 5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 1)
    epochs = [("baseline", 0.0, 1.0), ("tone", 1.0, 2.5), ("shock", 2.5, 3.0)]
    labels = np.array([0] * 15 + [-1] * 5 + [4] * 10)  # indices, -1 = none
    out = plot_ethogram(axes[1], labels, None, B, 10.0, epochs=epochs)
    assert out is fig and len(fig.axes) == 2
    ax = axes[1]
    assert [t.get_text() for t in ax.texts] == ["baseline", "tone", "shock"]
    spans = [p for p in ax.patches if p.get_width() > 0 and p.get_zorder() == 0]
    assert sorted((round(p.get_x(), 6), round(p.get_width(), 6)) for p in spans) == [(0.0, 1.0), (1.0, 1.5),
                                                                                     (2.5, 0.5)]
    assert _bars(ax, 0.0)[behavior_colors(B)["fleeing"].lower()] == [(2.0, 1.0)]
    assert not axes[0].has_data()  # the other panel is untouched
    fig2 = Figure()
    assert plot_ethogram(fig2, labels, None, B, 10.0) is fig2 and len(fig2.axes) == 1


def test_ethogram_checks_inputs():
    with pytest.raises(ValueError, match="fps"):
        plot_ethogram(None, ["freezing"], None, B, 0)
    with pytest.raises(ValueError, match="dancing"):
        plot_ethogram(None, ["dancing"], None, B, 10.0)
    with pytest.raises(ValueError, match=r"probabilities of shape \(2, 5\)"):
        plot_ethogram(None, ["freezing", "freezing"], np.ones((3, 5)) / 5, B, 10.0)
    with pytest.raises(ValueError, match="human labels of length 2"):
        plot_ethogram(None, ["freezing", "freezing"], None, B, 10.0, human=["freezing"])


def test_other_plots_and_atomic_save(tmp_path):
    cm = pd.DataFrame([[5, 1, 0], [0, 0, 0]], index=["freezing", "exploring"],
                      columns=["freezing", "exploring", "none"])
    fig = plot_confusion(None, cm, title="cm")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["5\n83%", "1\n17%", "0\n0%"] and texts[3:] == ["0", "0", "0"]  # empty row: counts only
    assert [t.get_text() for t in ax.get_yticklabels()] == ["freezing (n=6)", "exploring (n=0)"]
    pt = pd.DataFrame({"video_id": ["a", "b"], "behavior": ["freezing", "freezing"], "human": [10.0, 50.0],
                       "predicted": [12.0, 40.0]})
    plot_percent_time(None, pt, ["freezing"])
    table = pd.DataFrame({"f1_freezing": [0.5, np.nan], "macro_f1": [0.4, 0.9], "mcc": [0.1, -0.2],
                          "kappa": [0.2, 0.3]}, index=pd.Index(["r1", "r2"], name="run"))
    fig = plot_comparison(None, table)
    heights = sorted(round(p.get_height(), 6) for p in fig.axes[0].patches)
    assert heights == [-0.2, 0.1, 0.2, 0.3, 0.4, 0.5, 0.9]  # the NaN draws no bar
    path = save_figure(fig, tmp_path / "sub" / "c.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and [p.name for p in path.parent.iterdir()] == ["c.png"]


def test_plots_leave_pyplot_and_backend_alone(tmp_path):
    code = textwrap.dedent("""
        import sys, matplotlib
        matplotlib.use("svg")
        import numpy as np
        from mousefear.pipeline.plots import plot_ethogram, save_figure
        fig = plot_ethogram(None, ["freezing"] * 4, np.full((4, 2), 0.5), ["freezing", "exploring"], 2.0)
        save_figure(fig, sys.argv[1])
        print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "e.png")], capture_output=True, text=True,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"
    assert out.stdout.split() == ["svg", "False"]
