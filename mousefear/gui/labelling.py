"""The labelling page: one candidate exemplar window after the other, answered with a key press.

Every answer is saved at once. A behaviour goes into ``exemplars/index.csv`` (label = the behaviour,
label_source ``person``), written atomically and validated by :func:`mousefear.pipeline.exemplars.write_exemplar_index`.
"skip" and "unsure" leave the candidate unlabelled in the index (label and label_source empty: it is not used
as an in-context example). Every answer, these two included, is also recorded in the side file
``exemplars/labelling_state.csv`` (one row per candidate, the newest answer kept)::

    id,answer,time
    m1_day1_000030-000060,freezing,2026-11-23T10:15:02Z
    m1_day1_000120-000150,skip,2026-11-23T10:15:09Z

so that the page opens at the first candidate that has neither a label nor an answer, and can list the
candidates a person skipped or was unsure about.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import threading
from http import HTTPStatus
from typing import Any

from mousefear._io import atomic_write_text
from mousefear.core.project import ConfigLike, Project
from mousefear.errors import LabelError, MousefearError, ProjectError
from mousefear.gui.server import App, HttpError, Response, check_write_target, inside, page_response, require_str
from mousefear.gui.sidefile import format_rows, read_rows
from mousefear.pipeline.plots import behavior_colors

STATE_NAME = "labelling_state.csv"
STATE_HEADER = ("id", "answer", "time")
#: answers besides the behaviours, with their keys
OTHER_ANSWERS = {"skip": "s", "unsure": "u"}
_MEDIA_FILE = re.compile(r"^(frame_\d{2,4}|sheet)\.png$")
_UTC = _dt.timezone.utc  # noqa: UP017 (datetime.UTC needs Python 3.11)


def behavior_keys(behaviors: list[str]) -> dict[str, str]:
    """Keyboard key of each behaviour: ``1`` .. ``9`` in config order (behaviours after the ninth get none)."""
    return {b: str(i + 1) for i, b in enumerate(behaviors[:9])}


def read_state(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """The labelling side file as ``{id: {"answer": ..., "time": ...}}`` (empty when there is none).

    Raises
    ------
    LabelError
        The file has another header or a row with another number of columns; the message names file and row.
    """
    return {row[0]: {"answer": row[1], "time": row[2]} for _, row in read_rows(path, STATE_HEADER)}


def format_state(state: dict[str, dict[str, str]]) -> str:
    """Text of the labelling side file for ``state`` (as returned by :func:`read_state`)."""
    return format_rows(STATE_HEADER, ((cid, rec["answer"], rec["time"]) for cid, rec in state.items()))


class LabellingApp(App):
    """Routes of the labelling page for one project.

    Parameters
    ----------
    config
        config.yaml of the project (or its folder), or an opened :class:`~mousefear.core.project.Project`.
    lock
        Lock held around every read-modify-write of a project file.

    Raises
    ------
    ProjectError
        The project has no candidate exemplars yet (run ``extract_exemplars`` first).
    """

    def __init__(self, config: ConfigLike, lock: threading.Lock | None = None):
        from mousefear.pipeline.exemplars import read_exemplar_index

        super().__init__()
        self.project = Project.open(config)
        self.root = self.project.root
        self.behaviors = self.project.behaviors
        self.definitions = {b.name: b.definition for b in self.project.settings.behaviors}
        self.keys = behavior_keys(self.behaviors)
        self.fps = {v.id: v.fps for v in self.project.videos}
        self.folder = self.project.paths.exemplars
        self.index_path = self.project.paths.exemplar_index
        self.state_path = self.folder / STATE_NAME
        self.lock = lock or threading.Lock()
        self._cached: tuple[Any, Any] | None = None
        if read_exemplar_index(self.project).empty:
            raise ProjectError(f"{self.index_path}: no candidate exemplars to label; run "
                               "mousefear.extract_exemplars (mousefear extract-exemplars CONFIG) first")
        self.get_routes.update({
            "/label": lambda q: page_response("label.html"),
            "/api/label/state": self.get_state,
        })
        self.prefix_routes["/media/exemplars/"] = self.get_media
        self.post_routes["/api/label/answer"] = self.post_answer

    # ------------------------------------------------------------------ helpers
    def _index(self):
        """The exemplar index, re-read only when index.csv changed (a person may edit it while the page is open)."""
        from mousefear.pipeline.exemplars import read_exemplar_index

        try:
            st = self.index_path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp is not None and self._cached is not None and self._cached[0] == stamp:
            return self._cached[1].copy()
        try:
            index = read_exemplar_index(self.project)
        except MousefearError as exc:
            raise HttpError(HTTPStatus.CONFLICT, str(exc)) from None
        self._cached = (stamp, index)
        return index.copy()

    def _state(self) -> dict[str, dict[str, str]]:
        try:
            return read_state(self.state_path)
        except LabelError as exc:
            raise HttpError(HTTPStatus.CONFLICT, str(exc)) from None

    def _info(self, cid: str) -> dict[str, Any]:
        path = self.folder / cid / "info.json"
        if not inside(path, self.folder) or not path.is_file():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _candidate(self, rec: Any, state: dict[str, dict[str, str]]) -> dict[str, Any]:
        cid = str(rec.id)
        folder = self.folder / cid
        frames = sorted(p.name for p in folder.glob("frame_*.png") if _MEDIA_FILE.match(p.name)) \
            if inside(folder, self.folder) and folder.is_dir() else []
        info = self._info(cid)
        fps = float(info.get("fps") or self.fps.get(str(rec.video_id)) or 0) or None
        return {
            "id": cid,
            "video_id": str(rec.video_id),
            "start_frame": int(rec.start_frame),
            "end_frame": int(rec.end_frame),
            "fps": fps,
            "frame_indices": [int(i) for i in info.get("frame_indices", [])],
            "method": str(rec.method),
            "label": str(rec.label),
            "label_source": str(rec.label_source),
            "answer": state.get(cid, {}).get("answer", ""),
            "frames": [f"/media/exemplars/{cid}/{name}" for name in frames],
            "sheet": f"/media/exemplars/{cid}/sheet.png" if (folder / "sheet.png").is_file() else None,
        }

    def _summary(self, index, state: dict[str, dict[str, str]]) -> dict[str, Any]:
        counts = {b: int((index["label"] == b).sum()) for b in self.behaviors}
        answered = [bool(r.label) or r.id in state for r in index.itertuples(index=False)]
        first_open = next((i for i, a in enumerate(answered) if not a), None)
        answers = [state.get(r.id, {}).get("answer", "") for r in index.itertuples(index=False)]
        return {
            "total": len(index),
            "labelled": int((index["label"] != "").sum()),
            "answered": int(sum(answered)),
            "skipped": answers.count("skip"),
            "unsure": answers.count("unsure"),
            "counts": counts,
            "missing": [b for b in self.behaviors if counts[b] == 0],
            "next": first_open,
        }

    # ------------------------------------------------------------------ routes
    def get_state(self, query: dict[str, str]) -> Response:
        index, state = self._index(), self._state()
        return Response.json({
            "project": self.project.settings.project.name,
            "root": str(self.root),
            "behaviors": [{"name": b, "definition": self.definitions.get(b, ""), "key": self.keys.get(b)}
                          for b in self.behaviors],
            "colors": behavior_colors(self.behaviors),
            "other": [{"name": n, "key": k} for n, k in OTHER_ANSWERS.items()],
            "candidates": [self._candidate(r, state) for r in index.itertuples(index=False)],
            "summary": self._summary(index, state),
        })

    def get_media(self, rest: str, query: dict[str, str]) -> Response:
        parts = rest.split("/")
        if len(parts) != 2 or not _MEDIA_FILE.match(parts[1]):
            raise HttpError(HTTPStatus.NOT_FOUND, "not found")
        cid, name = parts
        if cid not in set(self._index()["id"]):
            raise HttpError(HTTPStatus.NOT_FOUND, "not found")
        path = self.folder / cid / name
        if not inside(path, self.folder) or not path.is_file():
            raise HttpError(HTTPStatus.NOT_FOUND, "not found")
        return Response(path.read_bytes(), "image/png", headers={"Cache-Control": "private, max-age=60"})

    def post_answer(self, body: dict[str, Any]) -> Response:
        from mousefear.pipeline.exemplars import write_exemplar_index

        cid = require_str(body, "id")
        answer = require_str(body, "answer")
        if answer not in self.behaviors and answer not in OTHER_ANSWERS:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"Expected a behaviour of the project "
                                                    f"({', '.join(self.behaviors)}), skip or unsure, but got "
                                                    f"{answer!r}")
        check_write_target(self.index_path, self.root)
        check_write_target(self.state_path, self.root)
        with self.lock:
            index, state = self._index(), self._state()
            rows = index.index[index["id"] == cid]
            if len(rows) == 0:
                raise HttpError(HTTPStatus.NOT_FOUND, f"Expected a candidate of exemplars/index.csv, but got {cid!r}")
            i = rows[0]
            is_behavior = answer in self.behaviors
            new_label = answer if is_behavior else ""
            new_source = "person" if is_behavior else ""
            if (index.at[i, "label"], index.at[i, "label_source"]) != (new_label, new_source):
                index.at[i, "label"] = new_label
                index.at[i, "label_source"] = new_source
                try:
                    write_exemplar_index(self.project, index)
                except MousefearError as exc:
                    raise HttpError(HTTPStatus.CONFLICT, str(exc)) from None
                self._cached = None
            now = _dt.datetime.now(_UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
            state.pop(cid, None)
            state[cid] = {"answer": answer, "time": now}
            atomic_write_text(self.state_path, format_state(state))
            rec = next(r for r in index.itertuples(index=False) if r.id == cid)
            return Response.json({"ok": True, "candidate": self._candidate(rec, state),
                                  "summary": self._summary(index, state)})

