"""Exemplars: candidate windows that a person labels and that serve as in-context examples for the model.

:func:`extract_exemplars` streams each video once, measures every window on small grey thumbnails, picks
candidates (``kmeans``, ``uniform`` or ``motion``), and writes for each candidate::

    exemplars/index.csv                       one row per candidate (format below)
    exemplars/<id>/frame_00.png, ...          the candidate's sampled frames, preprocessed as the model sees them
    exemplars/<id>/sheet.png                  the frames side by side with a caption, for a person to look at
    exemplars/<id>/info.json                  frame numbers, times, the preprocessing settings and the crop
                                              box ([x, y, width, height] in pixels, null when not cropped) used

``index.csv`` has exactly the columns :data:`INDEX_COLUMNS`::

    id,video_id,start_frame,end_frame,method,motion_score,label,label_source

``id`` is ``{video_id}_{start_frame:06d}-{end_frame:06d}``; frames are half-open ``[start_frame, end_frame)``;
``motion_score`` is the mean absolute grey-level change (0-255) between consecutive sampled thumbnails;
``label`` is a behaviour name or empty; ``label_source`` is empty, ``person`` (typed into the file by a person)
or ``labels`` (taken from ``labels/<video_id>.csv`` by :func:`label_exemplars`).

Three functions with similar names do different things with labels:

- :func:`labelled_exemplars` only **reads**: the index with each candidate's effective label (rule below);
- :func:`label_exemplars` **writes** that effective label into ``index.csv`` and counts labelled exemplars per
  behaviour (command ``mousefear label-exemplars``);
- :func:`mousefear.gui.label_exemplars_gui` opens a **browser page** where a person labels the candidates one
  after the other (command ``mousefear label``).

Label resolution (:func:`labelled_exemplars`): a label a person wrote (``label_source`` empty or ``person``)
wins; otherwise the behaviour covering most labelled frames of the window in ``labels/<video_id>.csv``
(ties go to the behaviour listed first in config.yaml); a window without labelled frames stays unlabelled.
A row with label_source ``labels`` follows the label files every time; if its label in index.csv differs
(typed over without changing label_source), a warning names the exemplar and both labels.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from mousefear._io import atomic_write_bytes, atomic_write_text, writing
from mousefear._version import __version__
from mousefear.core.preprocess import preprocess_window, preprocessing_record
from mousefear.core.project import ConfigLike, Project
from mousefear.errors import ConfigError, LabelError, ProjectError

logger = logging.getLogger(__name__)

#: Columns of exemplars/index.csv, in this order.
INDEX_COLUMNS = ("id", "video_id", "start_frame", "end_frame", "method", "motion_score", "label", "label_source")
#: Ways of picking candidates.
METHODS = ("kmeans", "uniform", "motion")
#: Values of the label_source column.
LABEL_SOURCES = ("", "person", "labels")
#: Height in pixels of the caption band of a contact sheet.
_CAPTION_HEIGHT = 22


def exemplar_id(video_id: str, start_frame: int, end_frame: int) -> str:
    """Id of a candidate window: ``{video_id}_{start_frame:06d}-{end_frame:06d}``."""
    return f"{video_id}_{int(start_frame):06d}-{int(end_frame):06d}"


# ----------------------------------------------------------------------------------------------- index file
def _empty_index() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in INDEX_COLUMNS})
    return _typed(df)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in ("start_frame", "end_frame"):
        df[c] = df[c].astype(np.int64)
    df["motion_score"] = df["motion_score"].astype(np.float64)
    for c in ("id", "video_id", "method", "label", "label_source"):
        df[c] = df[c].astype(object)
    return df.reset_index(drop=True)


def _validate_index(df: pd.DataFrame, behaviors: list[str], where: str) -> pd.DataFrame:
    """Check an index table; return it with proper dtypes. Errors name ``where`` and the file row."""
    cols = [str(c) for c in df.columns]
    if tuple(cols) != INDEX_COLUMNS:
        raise ProjectError(f"{where}: Expected the columns {','.join(INDEX_COLUMNS)}, but got {','.join(cols)}")
    known = set(behaviors)
    seen: dict[str, int] = {}
    rows = []
    for i, rec in enumerate(df.itertuples(index=False)):
        row_no = i + 2  # header is row 1
        rec = rec._asdict()
        text = {k: ("" if rec[k] is None or (isinstance(rec[k], float) and np.isnan(rec[k])) else str(rec[k]).strip())
                for k in INDEX_COLUMNS}
        try:
            start, end = int(text["start_frame"]), int(text["end_frame"])
        except ValueError:
            raise ProjectError(f"{where}, row {row_no}: Expected whole numbers for start_frame and end_frame, but "
                               f"got {text['start_frame']!r}, {text['end_frame']!r}") from None
        if not 0 <= start < end:
            raise ProjectError(f"{where}, row {row_no}: Expected 0 <= start_frame < end_frame, but got "
                               f"{start}, {end}")
        if not text["video_id"]:
            raise ProjectError(f"{where}, row {row_no}: Expected a video_id, but got an empty value")
        want = exemplar_id(text["video_id"], start, end)
        if text["id"] != want:
            raise ProjectError(f"{where}, row {row_no}: Expected id {want!r} (video_id_start-end), but got "
                               f"{text['id']!r}")
        if text["id"] in seen:
            raise ProjectError(f"{where}, row {row_no}: candidate {text['id']!r} is listed twice (also row "
                               f"{seen[text['id']]})")
        seen[text["id"]] = row_no
        if text["method"] and text["method"] not in METHODS:
            raise ProjectError(f"{where}, row {row_no}: Expected method to be one of {', '.join(METHODS)}, but "
                               f"got {text['method']!r}")
        try:
            score = float(text["motion_score"]) if text["motion_score"] else float("nan")
        except ValueError:
            raise ProjectError(f"{where}, row {row_no}: Expected a number for motion_score, but got "
                               f"{text['motion_score']!r}") from None
        if text["label"] and text["label"] not in known:
            raise LabelError(f"{where}, row {row_no}: unknown behaviour {text['label']!r} in column label (the "
                             f"project's behaviours: {', '.join(behaviors)})")
        if text["label_source"] not in LABEL_SOURCES:
            raise ProjectError(f"{where}, row {row_no}: Expected label_source to be empty, person or labels, but "
                               f"got {text['label_source']!r}")
        if text["label"] and not text["label_source"]:
            text["label_source"] = "person"  # a label typed in by hand
        if not text["label"]:
            text["label_source"] = ""  # no label, no source
        rows.append({**text, "start_frame": start, "end_frame": end, "motion_score": score})
    return _typed(pd.DataFrame(rows, columns=list(INDEX_COLUMNS))) if rows else _empty_index()


def read_exemplar_index(config: ConfigLike) -> pd.DataFrame:
    """Read ``exemplars/index.csv`` (an empty table when there is none yet).

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`INDEX_COLUMNS`: id, video_id, method, label, label_source (str, ``""`` when empty),
        start_frame, end_frame (int64, half-open frame range), motion_score (float64, NaN when empty).
        A label typed in by a person with an empty label_source reads as label_source ``person``.

    Raises
    ------
    ProjectError, LabelError
        Naming the file and row: wrong columns, malformed or duplicate id, unknown behaviour in ``label``.
    """
    project = Project.open(config)
    path = project.paths.exemplar_index
    if not path.is_file():
        return _empty_index()
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path}: not a readable CSV file ({exc})") from None
    return _validate_index(df, project.behaviors, str(path))


def _format_index(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(INDEX_COLUMNS)
    for rec in df.itertuples(index=False):
        score = "" if np.isnan(rec.motion_score) else f"{rec.motion_score:.4f}"
        w.writerow((rec.id, rec.video_id, int(rec.start_frame), int(rec.end_frame), rec.method, score, rec.label,
                    rec.label_source))
    return buf.getvalue()


def write_exemplar_index(config: ConfigLike, df: pd.DataFrame) -> Path:
    """Validate an index table and write it to ``exemplars/index.csv`` atomically.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.
    df
        Table with exactly the columns :data:`INDEX_COLUMNS` (as from :func:`read_exemplar_index`).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ProjectError, LabelError
        Naming the file and row (row 2 is the first data row); nothing is written then.
    """
    project = Project.open(config)
    path = project.paths.exemplar_index
    clean = _validate_index(df, project.behaviors, str(path))
    atomic_write_text(path, _format_index(clean))
    return path


# ------------------------------------------------------------------------------------------------- choosing
def _thumbnails(frames: np.ndarray, width: int) -> np.ndarray:
    """(k, th, tw) uint8 grey thumbnails of (k, h, w, 3) uint8 RGB frames, ``width`` pixels wide."""
    h, w = frames.shape[1:3]
    tw = max(1, min(int(width), w))
    th = max(1, round(h * tw / w))
    return np.stack([cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (tw, th), interpolation=cv2.INTER_AREA)
                     for f in frames])


def motion_score(thumbnails: np.ndarray) -> float:
    """Mean absolute grey-level change (0-255) between consecutive (k, h, w) uint8 thumbnails; 0 when k = 1."""
    if len(thumbnails) < 2:
        return 0.0
    t = thumbnails.astype(np.float64)
    return float(np.mean(np.abs(np.diff(t, axis=0))))


def choose_uniform(n_windows: int, n: int) -> np.ndarray:
    """(min(n, n_windows),) int64 window numbers evenly spaced: the centres of ``n`` equal stretches."""
    if n_windows <= 0:
        return np.zeros(0, dtype=np.int64)
    if n >= n_windows:
        return np.arange(n_windows, dtype=np.int64)
    j = np.arange(n, dtype=np.int64)
    return ((2 * j + 1) * n_windows) // (2 * n)


def choose_motion(scores: np.ndarray, n: int) -> np.ndarray:
    """Windows spread over the range of their motion scores.

    The targets are the quantiles of ``scores`` at ``n`` evenly spaced levels from 0 to 1 (so the stillest and
    the most active window are always included; one candidate takes the median); each target takes the
    not yet chosen window whose score is closest (ties: the earlier window).

    Parameters
    ----------
    scores
        (n_windows,) float motion scores.
    n
        Candidates wanted.

    Returns
    -------
    np.ndarray
        (min(n, n_windows),) int64 window numbers, ascending.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if n >= len(scores):
        return np.arange(len(scores), dtype=np.int64)
    levels = np.array([0.5]) if n == 1 else np.linspace(0.0, 1.0, n)
    targets = np.quantile(scores, levels)
    free = np.ones(len(scores), dtype=bool)
    chosen = []
    for t in targets:
        dist = np.where(free, np.abs(scores - t), np.inf)
        k = int(np.argmin(dist))  # first minimum: the earlier window on ties
        free[k] = False
        chosen.append(k)
    return np.sort(np.asarray(chosen, dtype=np.int64))


def choose_kmeans(features: np.ndarray, n: int, seed: int) -> np.ndarray:
    """One window per k-means cluster of ``features``: the member nearest the cluster centre.

    Parameters
    ----------
    features
        (n_windows, n_features) float features (the windows' grey thumbnails, scaled to 0-1).
    n
        Clusters wanted (fewer when fewer distinct windows exist).
    seed
        Random state of k-means (``seed`` of config.yaml).

    Returns
    -------
    np.ndarray
        (n_clusters,) int64 window numbers, ascending.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    features = np.asarray(features, dtype=np.float64)
    n_distinct = len(np.unique(features, axis=0))
    k = min(int(n), n_distinct)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k == len(features):
        return np.arange(len(features), dtype=np.int64)
    # one thread: the data are small, and OpenMP threads that spin-wait on a busy machine make k-means
    # ten times slower; it also keeps the result independent of the number of cores
    with threadpool_limits(limits=1):
        km = KMeans(n_clusters=k, random_state=int(seed), n_init=10).fit(features)
    chosen = []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        dist = np.sum((features[members] - km.cluster_centers_[c]) ** 2, axis=1)
        chosen.append(int(members[int(np.argmin(dist))]))
    return np.sort(np.asarray(chosen, dtype=np.int64))


# ------------------------------------------------------------------------------------------------- writing
def _png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 images
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def contact_sheet(frames: np.ndarray, caption: str, frame_captions: Iterable[str]) -> np.ndarray:
    """Frames side by side under a caption band, each frame with its own caption.

    Parameters
    ----------
    frames
        (k, h, w, 3) uint8 RGB.
    caption
        Text of the top band (video id, time, frame range).
    frame_captions
        One short text per frame, drawn in its top-left corner (frame number).

    Returns
    -------
    np.ndarray
        (h + 22, k * w + (k - 1) * 2, 3) uint8 RGB; frames are separated by 2-pixel white gaps.
    """
    k, h, w = frames.shape[:3]
    gap = 2
    sheet = np.full((h + _CAPTION_HEIGHT, k * w + (k - 1) * gap, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(sheet, caption, (4, _CAPTION_HEIGHT - 7), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for i, (f, text) in enumerate(zip(frames, frame_captions, strict=True)):
        x = i * (w + gap)
        sheet[_CAPTION_HEIGHT:, x:x + w] = f
        (tw, th), _ = cv2.getTextSize(text, font, 0.4, 1)
        cv2.rectangle(sheet, (x, _CAPTION_HEIGHT), (x + tw + 6, _CAPTION_HEIGHT + th + 8), (0, 0, 0), -1)
        cv2.putText(sheet, text, (x + 3, _CAPTION_HEIGHT + th + 4), font, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return sheet


def _write_candidate(folder: Path, window: Any, frames: np.ndarray, settings: dict, write_sheet: bool,
                     window_seconds: float, stride_seconds: float | None,
                     crop: tuple[int, int, int, int] | None) -> None:
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        atomic_write_bytes(folder / f"frame_{i:02d}.png", _png(f))
    info = {
        "id": folder.name,
        "video_id": window.video_id,
        "window_index": int(window.index),
        "start_frame": int(window.start_frame),
        "end_frame": int(window.end_frame),
        "frame_indices": [int(i) for i in window.frame_indices],
        "timestamps_s": [round(float(t), 6) for t in window.timestamps],
        "fps": float(window.fps),
        "partial": bool(window.partial),
        "window_seconds": window_seconds,
        "stride_seconds": stride_seconds,
        "preprocessing": settings,
        "crop": None if crop is None else [int(c) for c in crop],
        "mousefear_version": __version__,
    }
    if write_sheet:
        t0, t1 = window.start_frame / window.fps, window.end_frame / window.fps
        caption = (f"{window.video_id}  {t0:.2f}-{t1:.2f} s  frames {window.start_frame}-{window.end_frame - 1}")
        sheet = contact_sheet(frames, caption, [f"#{int(i)}" for i in window.frame_indices])
        atomic_write_bytes(folder / "sheet.png", _png(sheet))
    # info.json last: its presence means the candidate's files are complete
    atomic_write_text(folder / "info.json", json.dumps(info, indent=2, sort_keys=True) + "\n")


def _complete(folder: Path, k: int) -> bool:
    return (folder / "info.json").is_file() and all((folder / f"frame_{i:02d}.png").is_file() for i in range(k))


def extract_exemplars(config: ConfigLike, videos: Iterable[str] | None = None, n_per_video: int | None = None,
                      method: str | None = None) -> pd.DataFrame:
    """Pick candidate example windows from each video and write them into ``exemplars/``.

    Each video is streamed once to measure every window (grey thumbnails ``downsample_width`` pixels wide of its
    sampled frames, and their motion score); the candidates are then picked with ``method`` and their frames
    decoded again (only theirs), preprocessed as the model would see them, and written as PNG files. Windows
    cut short by the end of the video are not candidates unless no other window exists.

    Re-running adds only candidates that are not in the index yet; rows already there are kept as they are
    (labels untouched), and their files rewritten only if some are missing. The same project and seed give
    the same files, byte for byte.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.
    videos
        Video ids (or registry keys or paths) to use; default: every registered video.
    n_per_video
        Candidates per video (default ``exemplars.n_per_video``).
    method
        ``kmeans``, ``uniform`` or ``motion`` (default ``exemplars.method``).

    Returns
    -------
    pandas.DataFrame
        The index rows added (columns :data:`INDEX_COLUMNS`).

    Config keys
    -----------
    exemplars.method, exemplars.n_per_video, exemplars.downsample_width, exemplars.contact_sheet,
    classification.window_seconds, classification.stride_seconds, classification.frames_per_window,
    classification.preprocessing.*, seed.
    """
    from tqdm.auto import tqdm

    from mousefear.core.video import iter_windows

    project = Project.open(config)
    ex, cls = project.settings.exemplars, project.settings.classification
    method = ex.method if method is None else method
    if method not in METHODS:
        raise ConfigError(f"Expected method to be one of {', '.join(METHODS)}, but got {method!r}")
    n = int(ex.n_per_video if n_per_video is None else n_per_video)
    if n < 1:
        raise ConfigError(f"Expected n_per_video to be a whole number >= 1, but got {n_per_video!r}")
    width, write_sheet = ex.downsample_width, ex.contact_sheet
    win_s, stride_s, k = cls.window_seconds, cls.stride_seconds, cls.frames_per_window
    seed = project.settings.seed
    pre = cls.preprocessing
    settings = preprocessing_record(pre)
    folder = project.paths.exemplars

    index = read_exemplar_index(project)
    known = set(index["id"])
    added: list[dict] = []
    for video in project.select_videos(videos):
        crop = video.crop if pre.crop else None
        stream = iter_windows(video, win_s, stride_s, k, crop=crop)
        thumbs: list[np.ndarray] = []
        scores: list[float] = []
        partial: list[bool] = []
        for window in tqdm(stream, total=len(stream), desc=f"measuring {video.id}", unit="window", leave=False):
            t = _thumbnails(window.frames, width)
            thumbs.append(t.reshape(-1))
            scores.append(motion_score(t))
            partial.append(window.partial)
        if not thumbs:
            logger.warning("%s: no window could be read; no candidates from this video", video.id)
            continue
        eligible = np.flatnonzero(~np.asarray(partial)) if not all(partial) else np.arange(len(partial))
        score_arr = np.asarray(scores)
        if method == "uniform":
            picked = eligible[choose_uniform(len(eligible), n)]
        elif method == "motion":
            picked = eligible[choose_motion(score_arr[eligible], n)]
        else:
            features = np.stack([thumbs[i] for i in eligible]).astype(np.float64) / 255.0
            picked = eligible[choose_kmeans(features, n, seed)]
        picked = [int(i) for i in picked]
        todo = []
        for w in picked:
            start, end = (int(x) for x in stream.bounds[w])
            cid = exemplar_id(video.id, start, end)
            if cid not in known or not _complete(folder / cid, k):
                todo.append(w)
            if cid not in known:
                known.add(cid)
                added.append({"id": cid, "video_id": video.id, "start_frame": start, "end_frame": end,
                              "method": method, "motion_score": round(float(score_arr[w]), 4), "label": "",
                              "label_source": ""})
        if todo:
            for window in iter_windows(video, win_s, stride_s, k, crop=crop, select=todo):
                frames = preprocess_window(window.frames, pre)
                cid = exemplar_id(video.id, window.start_frame, window.end_frame)
                _write_candidate(folder / cid, window, frames, settings, write_sheet, win_s, stride_s, crop)
        logger.info("%s: %d candidate(s) picked by %s, %d new", video.id, len(picked), method,
                    sum(1 for r in added if r["video_id"] == video.id))
    new = _typed(pd.DataFrame(added, columns=list(INDEX_COLUMNS))) if added else _empty_index()
    if added or not project.paths.exemplar_index.is_file():
        write_exemplar_index(project, pd.concat([index, new], ignore_index=True) if len(index) else new)
    return new


def exemplar_frames(config: ConfigLike, exemplar_id: str) -> np.ndarray:
    """The preprocessed frames of a candidate, as written by :func:`extract_exemplars`.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.
    exemplar_id
        Candidate id (``{video_id}_{start:06d}-{end:06d}``).

    Returns
    -------
    np.ndarray
        (k, height, width, 3) uint8 RGB.
    """
    folder = Project.open(config).paths.exemplar(exemplar_id)
    files = sorted(folder.glob("frame_*.png"))
    if not files:
        raise ProjectError(f"{folder}: Expected the frames of candidate {exemplar_id!r} (frame_00.png ...), but "
                           "found none; run extract_exemplars")
    out = []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            raise ProjectError(f"{f}: not a readable PNG image")
        out.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    return np.stack(out)


def exemplar_info(config: ConfigLike, exemplar_id: str) -> dict[str, Any]:
    """The ``info.json`` of a candidate: frame_indices, timestamps_s, fps, preprocessing settings, crop, ...

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.
    exemplar_id
        Candidate id (``{video_id}_{start:06d}-{end:06d}``).
    """
    path = Project.open(config).paths.exemplar(exemplar_id) / "info.json"
    if not path.is_file():
        raise ProjectError(f"{path}: no such file; run extract_exemplars")
    return json.loads(path.read_text(encoding="utf-8"))


# -------------------------------------------------------------------------------------------------- labels
def majority_label(labels: np.ndarray, behaviors: list[str]) -> str:
    """Behaviour covering most frames of (n,) per-frame ``labels`` ("" = unlabelled); ties: first in ``behaviors``.

    Returns "" when no frame is labelled.
    """
    counts = [int(np.sum(labels == b)) for b in behaviors]
    if not counts or max(counts) == 0:
        return ""
    return behaviors[int(np.argmax(counts))]  # argmax takes the first maximum


def _resolve_labels(project: Project, index: pd.DataFrame) -> pd.DataFrame:
    """``index`` with label and label_source effective (the rule of :func:`labelled_exemplars`)."""
    from mousefear.formats.labels import read_label_file

    behaviors = project.behaviors
    paths = project.paths
    n_frames = {v.id: v.n_frames for v in project.videos}
    per_video: dict[str, np.ndarray | None] = {}
    labels, sources = [], []
    for rec in index.itertuples(index=False):
        if rec.label and rec.label_source != "labels":
            labels.append(rec.label)
            sources.append("person")
            continue
        if rec.video_id not in per_video:
            path = paths.label_file(rec.video_id)
            per_video[rec.video_id] = (read_label_file(path, behaviors, n_frames.get(rec.video_id))
                                       if path.is_file() else None)
        frames = per_video[rec.video_id]
        label = "" if frames is None else majority_label(frames[rec.start_frame:rec.end_frame], behaviors)
        if rec.label and rec.label != label:
            # index.csv does not record what the label files gave when the row was derived, so a label typed
            # over a derived one cannot be told from label files imported again since: follow the label files,
            # but say so, per row, so a person's label is never replaced silently
            logger.warning("Exemplar %s: label %r in %s has label_source 'labels', but the label file %s now "
                           "gives %s; using the label file's. To keep a label you typed, set its "
                           "label_source to person (or leave it empty).", rec.id, rec.label, paths.exemplar_index,
                           paths.label_file(rec.video_id),
                           repr(label) if label else "no label (no labelled frame in the window)")
        labels.append(label)
        sources.append("labels" if label else "")
    out = index.copy()
    out["label"] = pd.Series(labels, dtype=object)
    out["label_source"] = pd.Series(sources, dtype=object)
    return out


def labelled_exemplars(config: ConfigLike, labelled_only: bool = False) -> pd.DataFrame:
    """Read the exemplar index with each candidate's effective label; writes nothing.

    This is the reading one of three similarly named functions: :func:`label_exemplars` writes these effective
    labels into ``exemplars/index.csv`` and counts them per behaviour; :func:`mousefear.gui.label_exemplars_gui`
    opens a browser page where a person labels candidates. The in-context examples of a run are chosen from
    what this function returns.

    A label a person wrote in index.csv (label_source empty or ``person``) wins. Otherwise the label comes from
    ``labels/<video_id>.csv``: the behaviour covering most labelled frames in ``[start_frame, end_frame)``, ties
    broken by the order of behaviours in config.yaml; label_source is then ``labels``. A window with no
    labelled frame, or whose video has no label file, stays unlabelled (label and label_source ``""``).

    A row with label_source ``labels`` always follows the label files (they may have been imported again
    since); when its label in index.csv differs from theirs — for example a label a person typed over it
    without changing label_source — a warning names the exemplar, both labels and how to keep the typed one
    (label_source ``person``).

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.
    labelled_only
        Return only the candidates that have a label.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`INDEX_COLUMNS`, label and label_source effective.
    """
    project = Project.open(config)
    out = _resolve_labels(project, read_exemplar_index(project))
    if labelled_only:
        out = out[out["label"] != ""].reset_index(drop=True)
    return out


def label_exemplars(config: ConfigLike) -> pd.DataFrame:
    """Copy the labels of ``labels/`` into ``exemplars/index.csv`` and count labelled exemplars per behaviour.

    This is the writing one of three similarly named functions: :func:`labelled_exemplars` only reads the
    effective labels (the same rule, nothing written); :func:`mousefear.gui.label_exemplars_gui` opens a
    browser page where a person labels candidates by hand. Run this one (command ``mousefear label-exemplars``)
    after importing or correcting label files, to see how many examples each behaviour has.

    Every candidate's label is resolved as :func:`labelled_exemplars` does and the result written into
    ``exemplars/index.csv`` (label_source ``labels`` for labels taken from label files, ``person`` for labels
    typed in by hand; only when something changed, and only when index.csv exists). Behaviours without any
    labelled exemplar are logged as a warning (the model then gets no in-context example of them).

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.

    Returns
    -------
    pandas.DataFrame
        One row per behaviour, in config order, columns ``behavior``, ``person``, ``labels``, ``total`` (int).
        ``df.attrs["missing"]`` lists the behaviours with none.
    """
    project = Project.open(config)
    current = read_exemplar_index(project)
    resolved = _resolve_labels(project, current)
    if project.paths.exemplar_index.is_file() and _format_index(resolved) != _format_index(current):
        write_exemplar_index(project, resolved)
    rows = []
    for b in project.behaviors:
        mine = resolved[resolved["label"] == b]
        person = int((mine["label_source"] == "person").sum())
        from_labels = int((mine["label_source"] == "labels").sum())
        rows.append({"behavior": b, "person": person, "labels": from_labels, "total": person + from_labels})
    table = pd.DataFrame(rows, columns=["behavior", "person", "labels", "total"])
    missing = [r["behavior"] for r in rows if r["total"] == 0]
    table.attrs["missing"] = missing
    if missing:
        logger.warning("No labelled exemplar for: %s", ", ".join(missing))
    return table


__all__ = [
    "INDEX_COLUMNS",
    "choose_kmeans",
    "choose_motion",
    "choose_uniform",
    "contact_sheet",
    "exemplar_frames",
    "exemplar_id",
    "exemplar_info",
    "extract_exemplars",
    "label_exemplars",
    "labelled_exemplars",
    "majority_label",
    "motion_score",
    "read_exemplar_index",
    "write_exemplar_index",
]
