"""Renaming a video id: :func:`rename_video` renames everything that carries it, all or nothing.

A video's id is its file stem; it names the file in ``videos/``, the registry entry, ``labels/<id>.csv`` (and its
``.corrections.csv``), the candidate exemplars ``<id>_<start>-<end>`` (folders, ``index.csv``,
``labelling_state.csv``), every run's ``<id>.h5`` (whose ``video_id`` attribute is rewritten), ``<id>.csv``,
``<id>_seconds.csv``, the rows of ``windows.csv`` and ``summary.csv``, the cache ``cache/<run>/<id>/`` and the
labelled videos ``evaluation/<run>/videos/<id>_labeled.mp4``. Every step is undone if one fails; config.yaml is
written last. Files made from a run that name the video inside (``evaluation/<run>/`` reports, ``epochs.csv``, NWB
files) are left as they are, with a warning to make them again; so are the records of runs whose in-context examples
came from the video (their run.json names the old exemplar ids: such a run continues only under a new name).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
from ruamel.yaml.comments import CommentedMap

from mousefear._io import atomic_write_text
from mousefear.core.project import ConfigLike, Project, check_name
from mousefear.errors import ProjectError
from mousefear.pipeline.exemplars import exemplar_id, read_exemplar_index, write_exemplar_index
from mousefear.pipeline.registry import check_table_names
from mousefear.pipeline.tables import write_run_tables

__all__ = ["rename_video"]

logger = logging.getLogger(__name__)


class _Steps:
    """Changes to files that can be undone, in reverse order, until :meth:`commit`."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self._remove: list[Path] = []
        self.done: list[str] = []

    def move(self, src: Path, dst: Path) -> None:
        if dst.exists() or dst.is_symlink():
            raise ProjectError(f"{dst} exists already; nothing was renamed")
        os.rename(src, dst)
        self._undo.append(lambda: os.rename(dst, src))
        self.done.append(f"{src} -> {dst}")

    def write(self, path: Path, text: str) -> None:
        old = path.read_bytes() if path.exists() else None
        atomic_write_text(path, text)
        self._undo.append(lambda: path.write_bytes(old) if old is not None else path.unlink(missing_ok=True))
        self.done.append(f"{path} rewritten")

    def vector(self, src: Path, dst: Path, new_id: str) -> None:
        """A copy of a vector file under the new name with the new ``video_id``; the old one goes at commit."""
        if dst.exists():
            raise ProjectError(f"{dst} exists already; nothing was renamed")
        tmp = dst.with_name(f".{dst.name}.renaming")
        shutil.copy2(src, tmp)
        try:
            with h5py.File(tmp, "r+") as f:
                f.attrs["video_id"] = new_id
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)
        self._undo.append(lambda: dst.unlink(missing_ok=True))
        self._remove.append(src)
        self.done.append(f"{src} -> {dst}")

    def record(self, undo: Callable[[], None], what: str) -> None:
        """A change made elsewhere, with how to undo it."""
        self._undo.append(undo)
        self.done.append(what)

    def remove_at_commit(self, path: Path) -> None:
        self._remove.append(path)

    def rollback(self) -> None:
        for undo in reversed(self._undo):
            try:
                undo()
            except OSError as exc:  # pragma: no cover - reported, the others are still undone
                logger.error("Could not undo a step of the rename: %s", exc)

    def commit(self) -> None:
        for p in self._remove:
            p.unlink(missing_ok=True)


def _renamed_registry(doc: CommentedMap, old_key: str, new_key: str, new_id: str) -> None:
    videos = doc["videos"]
    items = list(videos.items())
    for key in list(videos):
        del videos[key]
    for key, entry in items:
        if key == old_key:
            entry["id"] = new_id
            videos[new_key] = entry
        else:
            videos[key] = entry


def _state_text(path: Path, mapping: dict[str, str]) -> str | None:
    """``labelling_state.csv`` with the candidate ids renamed (None when nothing changes)."""
    if not path.is_file():
        return None
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    if not any(r and r[0] in mapping for r in rows[1:]):
        return None
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    for i, r in enumerate(rows):
        w.writerow([mapping.get(r[0], r[0]), *r[1:]] if i and r else r)
    return out.getvalue()


def rename_video(config: ConfigLike, old: str, new: str) -> list[str]:
    """Rename a registered video's id, and everything that carries it, all or nothing.

    Parameters
    ----------
    config : path-like or Project
        config.yaml of the project (or its folder), or an opened :class:`~mousefear.core.project.Project`.
    old : str
        The registered video (id, registry key or path).
    new : str
        The new id (letters, digits, ``.``, ``_``, ``-``); the file in ``videos/`` becomes ``<new><suffix>``.

    Returns
    -------
    list of str
        What was renamed or rewritten, one line each.

    Raises
    ------
    mousefear.errors.ProjectError
        ``old`` is not registered, ``new`` is not a usable name, is taken, or would clash with another video's
        files; or a step failed (every step done is undone, the message says which). Nothing is changed then.
    """
    project = Project.open(config)
    video = project.video(old)
    check_name(new, "a new video id")
    others = [v.id for v in project.videos if v.id != video.id]
    if new == video.id:
        raise ProjectError(f"Expected a new id for video {video.id!r}, but got the same")
    if new in others:
        raise ProjectError(f"{project.config_path}: a video with id {new!r} is registered already")
    check_table_names(new, others, project.config_path)
    paths = project.paths
    old_id = video.id
    new_key = Path(video.key).with_name(new + Path(video.key).suffix).as_posix()
    index = read_exemplar_index(project)
    mapping = {r.id: exemplar_id(new, r.start_frame, r.end_frame) for r in index.itertuples() if r.video_id == old_id}
    used_by = [r for r in project.runs() if _run_uses(paths.vectors(r) / "run.json", mapping)]
    steps = _Steps()
    try:
        steps.move(project.root / video.key, project.root / new_key)
        for suffix in (".csv", ".corrections.csv"):
            if (paths.labels / f"{old_id}{suffix}").exists():
                steps.move(paths.labels / f"{old_id}{suffix}", paths.labels / f"{new}{suffix}")
        for ex_old, ex_new in mapping.items():
            folder = paths.exemplars / ex_old
            if folder.is_dir():
                steps.move(folder, paths.exemplars / ex_new)
                info = paths.exemplars / ex_new / "info.json"
                if info.is_file():
                    data = json.loads(info.read_text(encoding="utf-8"))
                    data.update({"id": ex_new, "video_id": new})
                    steps.write(info, json.dumps(data, indent=2, sort_keys=True) + "\n")
        if mapping:
            old_index = paths.exemplar_index.read_bytes()
            index["id"] = [mapping.get(i, i) for i in index["id"]]
            index["video_id"] = [new if v == old_id else v for v in index["video_id"]]
            write_exemplar_index(project, index)
            steps.record(lambda: paths.exemplar_index.write_bytes(old_index), f"{paths.exemplar_index} rewritten")
            state = paths.exemplars / "labelling_state.csv"
            text = _state_text(state, mapping)
            if text is not None:
                steps.write(state, text)
        for run in project.runs():
            folder = paths.vectors(run)
            if (folder / f"{old_id}.h5").is_file():
                steps.vector(folder / f"{old_id}.h5", folder / f"{new}.h5", new)
                if (folder / f"{old_id}.csv").is_file():
                    steps.move(folder / f"{old_id}.csv", folder / f"{new}.csv")
                steps.remove_at_commit(paths.seconds_table(run, old_id))
            if paths.cache(run).joinpath(old_id).is_dir():
                steps.move(paths.cache(run) / old_id, paths.cache(run) / new)
            labeled = paths.labeled_video(run, old_id)
            if labeled.is_file():
                steps.move(labeled, paths.labeled_video(run, new))
        with project.edit() as doc:
            _renamed_registry(doc, video.key, new_key, new)
    except Exception as exc:
        steps.rollback()
        raise ProjectError(f"Renaming video {old_id!r} to {new!r} failed, nothing was changed: {exc}") from exc
    except BaseException:  # interrupted: undo, then stop
        steps.rollback()
        raise
    steps.commit()
    for run in project.runs():  # tables and summaries made from the vector files, with the new id
        write_run_tables(project, run)
    stale = [p for run in project.runs() for p in (paths.evaluation(run) / "metrics.json",
                                                   paths.vectors(run) / "epochs.csv",
                                                   paths.nwb_file(run, old_id)) if p.is_file()]
    if stale:
        logger.warning("These files still name video %r: %s; make them again (mousefear evaluate, summarize, "
                       "export-nwb)", old_id, ", ".join(str(p) for p in stale))
    if used_by:
        logger.warning("Run(s) %s took in-context examples from %r; their run.json names the old exemplar ids, so "
                       "classifying more videos in them is refused as other settings: give new runs a new name",
                       ", ".join(used_by), old_id)
    logger.info("Renamed video %s to %s (%d step(s))", old_id, new, len(steps.done))
    return steps.done


def _run_uses(run_json: Path, mapping: dict[str, str]) -> bool:
    if not mapping or not run_json.is_file():
        return False
    try:
        ids = (json.loads(run_json.read_text(encoding="utf-8")).get("settings") or {}).get("icl", {}).get(
            "example_ids") or []
    except (OSError, ValueError, AttributeError):
        return False
    return any(i in mapping for i in ids)
