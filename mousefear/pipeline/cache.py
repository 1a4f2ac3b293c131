"""The per-video cache of a run, so that an interrupted run resumes without redoing or losing work.

``cache/<run>/<video_id>/`` holds::

    meta.json       ties the cache to the run's settings and to the video's own settings (SHA-256 of the file,
                    fps, frame count, crop box, scale: :func:`mousefear.pipeline.runs.video_settings`)
    windows.jsonl   window backends: one JSON line per window, appended (flushed and fsynced) as each result
                    arrives: {"index", "start_frame", "end_frame", "partial", "probabilities", "text"}, NaN as null
                    (and "decided_by" in a hybrid run)
    video.npz       video backends: the whole :class:`~mousefear.backends.base.VideoResult` (signals and their
                    units included), written atomically; a hybrid run's motion pass the same way

A cache whose meta.json does not match is discarded whole, never continued, so one video's results never mix two
settings. A killed process leaves at most a torn last line in windows.jsonl, which is cut off; lines must hold
windows 0, 1, 2, ... in order. Reading a cache writes nothing: meta.json is written, a cache of other settings
discarded and a torn line cut off only when the first new result is stored, so a run that stops before it has
classified anything leaves the cache as it was. Both kinds of backends resume the same way: what the cache holds is not
computed again.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mousefear._io import atomic_path, atomic_write_text, json_safe, writing
from mousefear.backends.base import VideoResult
from mousefear.core.video import Window
from mousefear.pipeline.runs import changes

__all__ = ["VideoCache"]

logger = logging.getLogger(__name__)

_RESULT_ARRAYS = ("frame_probabilities", "frame_label", "start_frame", "end_frame", "probabilities")


class VideoCache:
    """The cache of one video in one run (``cache/<run>/<video_id>/``).

    Parameters
    ----------
    folder
        ``cache/<run>/<video_id>``.
    settings_sha256
        The run's identity.
    video
        The video's own settings (:func:`mousefear.pipeline.runs.video_settings`).
    """

    def __init__(self, folder: Path, settings_sha256: str, video: Mapping[str, Any], reset: bool = False):
        self.folder = folder
        self.path = folder / "windows.jsonl"
        self.npz = folder / "video.npz"
        self.meta = {"settings_sha256": settings_sha256, "video_sha256": video["video_sha256"],
                     "video": dict(video)}
        self._reset = reset  # start afresh (overwrite): what is cached is neither read nor kept
        self._fh: Any = None
        self._valid: bool | None = None
        self._good: int | None = None  # bytes of windows.jsonl that hold whole records (a torn tail is cut off)
        self._ready = False

    # ---------------------------------------------------------------- meta
    def _usable(self) -> bool:
        """Whether the folder holds a cache of these settings (nothing is written: a cache of other settings is
        only discarded by the first write, so a run that stops before it classifies anything changes nothing)."""
        if self._valid is None:
            self._valid = False
            meta_path = self.folder / "meta.json"
            if not self._reset and meta_path.is_file():
                try:
                    meta = json.loads(meta_path.read_text(encoding="utf-8"))
                except ValueError:
                    meta = None
                self._valid = meta == self.meta
                if not self._valid:
                    if isinstance(meta, dict) and meta.get("settings_sha256") == self.meta["settings_sha256"]:
                        why = ("; ".join(changes(meta["video"], self.meta["video"])) if "video" in meta else
                               "made by an older mousefear that did not record the crop box") or "its settings changed"
                    else:
                        why = "cache of other run settings, or not readable"
                    logger.warning("%s: discarding the cached results (%s); classifying the video from its start",
                                   self.folder, why)
        return self._valid

    def _prepare_write(self) -> None:
        """Before the first write: discard a cache of other settings, cut a torn last line, write meta.json."""
        if self._ready:
            return
        with writing(self.folder):
            if not self._usable():
                if self.folder.exists():
                    shutil.rmtree(self.folder)
                self.folder.mkdir(parents=True, exist_ok=True)
                atomic_write_text(self.folder / "meta.json", json.dumps(self.meta, sort_keys=True) + "\n")
                self._valid = True
            elif self._good is not None and self.path.is_file() and self.path.stat().st_size > self._good:
                with open(self.path, "r+b") as fh:
                    fh.truncate(self._good)
        self._ready = True

    # ---------------------------------------------------------------- window backends
    def load_windows(self) -> list[dict[str, Any]]:
        """Records cached so far (windows 0..n-1); writes nothing."""
        records: list[dict[str, Any]] = []
        if not self._usable() or not self.path.is_file():
            return records
        good = 0
        data = self.path.read_bytes()
        pos = 0
        while True:
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            try:
                rec = json.loads(data[pos:nl])
            except ValueError:
                break
            if not isinstance(rec, dict) or rec.get("index") != len(records):
                break
            records.append(rec)
            pos = good = nl + 1
        if good < len(data):
            logger.info("%s: ignoring %d bytes after window %d (an interrupted write)", self.path,
                        len(data) - good, len(records) - 1)
        self._good = good
        return records

    def append_window(self, window: Window, probabilities: np.ndarray, text: str,
                      decided_by: str | None = None) -> dict[str, Any]:
        """Add one window's result and make it durable (flush + fsync); returns the record written (with
        ``decided_by`` when given: a run that combines several paths)."""
        self._prepare_write()
        probs = [None if math.isnan(p) else float(p) for p in np.asarray(probabilities, dtype=np.float64)]
        rec = {"index": int(window.index), "start_frame": int(window.start_frame),
               "end_frame": int(window.end_frame), "partial": bool(window.partial), "probabilities": probs,
               "text": text}
        if decided_by is not None:
            rec["decided_by"] = decided_by
        with writing(self.path):
            if self._fh is None:
                self._fh = open(self.path, "ab")  # noqa: SIM115 - closed in close()
            self._fh.write(json.dumps(rec, allow_nan=False).encode("utf-8") + b"\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        return rec

    # ---------------------------------------------------------------- video backends
    def load_video(self) -> VideoResult | None:
        """The video backend's cached result, or None when there is none (or it cannot be read)."""
        if not self._usable() or not self.npz.is_file():
            return None
        try:
            with np.load(self.npz, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            info = json.loads(str(arrays.pop("info_json")))
            units = {k: tuple(v) for k, v in json.loads(str(arrays.pop("units_json"))).items()}
            signals = {k[len("signal_"):]: v for k, v in arrays.items() if k.startswith("signal_")}
            return VideoResult(**{k: arrays[k] for k in _RESULT_ARRAYS}, signals=signals, info=info, units=units)
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("%s: unreadable (%s); classifying the video again", self.npz, exc)
            return None

    def store_video(self, result: VideoResult) -> None:
        """Keep a video backend's result (atomically)."""
        self._prepare_write()
        arrays = {k: np.asarray(getattr(result, k)) for k in _RESULT_ARRAYS}
        arrays.update({f"signal_{k}": np.asarray(v) for k, v in result.signals.items()})
        arrays["info_json"] = np.asarray(json.dumps(json_safe(result.info), sort_keys=True))
        arrays["units_json"] = np.asarray(json.dumps({k: list(v) for k, v in result.units.items()}, sort_keys=True))
        with atomic_path(self.npz) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

