"""The shape of the package (docs/architecture.md): layers import downwards only, no import cycle, no module over
700 lines, and every public function reads config.yaml once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "mousefear"
#: layer of every package and top-level module: a module may import only from its own layer or below
LAYERS = {
    "mousefear.errors": 0, "mousefear._io": 0, "mousefear._version": 0,
    "mousefear.core": 1,
    "mousefear.formats": 2,
    "mousefear.backends": 3,
    "mousefear.pipeline": 4,
    "mousefear.gui": 5, "mousefear.cli": 5,
    "mousefear": 6,  # the public API (mousefear/__init__.py)
}
MAX_LINES = 700


def _modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        name = ".".join(p.relative_to(REPO).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = p
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every mousefear module ``name`` imports, at the top or inside functions."""
    out = set()
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("mousefear")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            if base.startswith("mousefear"):
                out |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return {m for m in out if m in known and m != name}


def _layer(module: str) -> int | None:
    if module == "mousefear.testing":
        return None
    best = max((k for k in LAYERS if module == k or module.startswith(k + ".")), key=len)
    return LAYERS[best]


def test_layers_import_downwards_only():
    mods = _modules()
    known = set(mods)
    wrong = []
    for name, path in mods.items():
        mine = _layer(name)
        for dep in _imports(name, path, known):
            if dep == "mousefear.testing" and name != "mousefear.testing":
                wrong.append(f"{name} imports mousefear.testing (test support: nothing in the layers may)")
            elif mine is not None and _layer(dep) is not None and _layer(dep) > mine:
                wrong.append(f"{name} (layer {mine}) imports {dep} (layer {_layer(dep)})")
    assert wrong == []


def test_no_import_cycle():
    mods = _modules()
    graph = {n: _imports(n, p, set(mods)) - {"mousefear"} for n, p in mods.items() if n != "mousefear"}
    state: dict[str, int] = {}
    cycles = []

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                cycles.append(" -> ".join(stack[stack.index(m):] + [n, m]))
            elif m not in state:
                visit(m, [*stack, n] if stack and stack[-1] != n else [n])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [])
    assert cycles == []


def test_no_module_is_too_long():
    long = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    """The checks above can fail: a made-up pair of modules that import each other is reported."""
    pkg = tmp_path / "mousefear"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "a.py").write_text("from mousefear.core import b\n")
    (pkg / "core" / "b.py").write_text("def f():\n    from mousefear.core.a import x\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", pkg)
    monkeypatch.setattr(__import__(__name__), "REPO", tmp_path)
    with pytest.raises(AssertionError, match="mousefear.core.a -> mousefear.core.b -> mousefear.core.a"):
        test_no_import_cycle()


def _too_few(call):
    """Run ``call``; a project of 3 windows has too few to fit a temperature (after config.yaml was read)."""
    from mousefear.errors import ProjectError

    with pytest.raises(ProjectError, match="Expected at least 20 labelled windows"):
        call()


def test_every_public_function_reads_config_once(project, monkeypatch, tmp_path):
    """Each public function taking a config path opens the project once (and zero times given a Project)."""
    import mousefear
    from mousefear.core import config as core_config
    from mousefear.core.project import Project

    with Project.open(project).edit() as doc:
        doc["classification"]["backend"] = "motion"
        doc["classification"]["motion"]["method"] = "pixels"
    labels = tmp_path / "m1_day1_labels.csv"
    labels.write_text("frame,behavior\n" + "".join(f"{i},{'freezing' if i < 15 else 'exploring'}\n"
                                                     for i in range(45)))
    grid = tmp_path / "grid.yaml"
    grid.write_text("runs:\n  strict: {classification.motion.freeze_threshold: 0.0001}\n")
    reads = []
    real = core_config.read_document
    monkeypatch.setattr(core_config, "read_document", lambda c: reads.append(c) or real(c))
    calls = [
        ("video_table", lambda c: mousefear.video_table(c)),
        ("check_videos", lambda c: mousefear.check_videos(c)),
        ("import_labels", lambda c: mousefear.import_labels(c, labels)),
        ("extract_exemplars", lambda c: mousefear.extract_exemplars(c, n_per_video=2, method="uniform")),
        ("read_exemplar_index", lambda c: mousefear.read_exemplar_index(c)),
        ("label_exemplars", lambda c: mousefear.label_exemplars(c)),
        ("labelled_exemplars", lambda c: mousefear.labelled_exemplars(c)),
        ("classify_videos", lambda c: mousefear.classify_videos(c, run="m", progress=False)),
        ("evaluate", lambda c: mousefear.evaluate(c, run="m", plots=False)),
        ("compare_runs", lambda c: mousefear.compare_runs(c)),
        ("summarize", lambda c: mousefear.summarize(c, run="m", plot=False)),
        ("export_labels", lambda c: mousefear.export_labels(c, "m1_day1", run="m", format="bouts")),
        ("calibrate_motion", lambda c: mousefear.calibrate_motion(c, from_labels=True, run="m", save=False,
                                                                  progress=False)),
        ("suggest_seconds", lambda c: mousefear.suggest_seconds(c, n=3, progress=False)),
        ("rethreshold", lambda c: mousefear.rethreshold(c, "m", name="m2", changes={"freeze_threshold": 0.01})),
        ("run_status", lambda c: mousefear.run_status(c, run="m")),
        ("smooth", lambda c: mousefear.smooth(c, "m", min_bout_seconds={"freezing": 2.0})),
        ("calibrate_probabilities", lambda c: _too_few(lambda: mousefear.calibrate_probabilities(c, "m"))),
        ("ablate", lambda c: mousefear.ablate(c, grid, progress=False)),
        ("load_config", lambda c: mousefear.load_config(c)),
    ]
    for name, call in calls:
        reads.clear()
        call(project)
        assert len(reads) == 1, f"{name} read config.yaml {len(reads)} times"
        opened = Project.open(project)
        reads.clear()
        if name != "load_config":
            call(opened)
            assert reads == [], f"{name} read config.yaml again although it was given the opened project"


def test_setup_cfg_ships_every_package():
    """A package missing from setup.cfg's ``packages`` works in an editable install and is absent from a wheel."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    listed = {p.strip() for p in cfg["options"]["packages"].split() if p.strip()}
    found = {".".join(p.parent.relative_to(REPO).parts) for p in PACKAGE.rglob("__init__.py")}
    assert found - listed == set()
