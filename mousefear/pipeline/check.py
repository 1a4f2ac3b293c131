"""check_model: what the configured model will do on this machine, measured on a few windows of the project.

:func:`check_model` is the ``mousefear check-model`` step, to run before a long classification. It builds the
configured window backend, loads it (the transformers backend never downloads here: a model that is not on the
machine is reported with the command that fetches it; a device without the memory for the weights in the
configured dtype is refused before loading), prepares the run's prompt and in-context examples, classifies the
first windows of the first registered video exactly as ``classify`` would, and reports what a lab plans with:
device and dtype, parameters and memory, visual tokens per window, seconds per window, and the time the whole
project (every registered video) would take at that speed. Against a server (``classification.backend:
openai``) it reports the scoring path the server supports, and the speed as seen from here (requests in flight
together, as ``classify`` sends them). Nothing is written to the project.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any

from mousefear.backends import build_backend
from mousefear.backends.base import WindowBackend
from mousefear.core.intervals import window_bounds
from mousefear.core.preprocess import preprocess_window
from mousefear.core.project import ConfigLike, Project
from mousefear.core.video import iter_windows
from mousefear.errors import ConfigError, ProjectError
from mousefear.pipeline.runs import run_settings

__all__ = ["ModelCheck", "check_model"]

logger = logging.getLogger(__name__)

_GIB = 2**30


@dataclass
class ModelCheck:
    """What :func:`check_model` measured.

    Attributes
    ----------
    config : str
        The config.yaml checked.
    backend, model : str
        ``classification.backend`` and ``classification.model``.
    family : str
        The model family's name (``Qwen3-VL``).
    device, dtype : str
        Where the model runs and its number format (``cuda:0``, ``bfloat16``); for a server its address and
        ``"server"``.
    device_name : str
        The GPU's name, ``"CPU"``, or ``""`` for a server.
    n_parameters : int or None
        Parameters of the checkpoint (None for a server).
    weights_gib : float or None
        Memory of the weights in ``dtype``, GiB (parameters x bytes per value).
    peak_memory_gib : float or None
        Peak memory during the check: allocated on the GPU, or the whole process's resident memory on a CPU, GiB.
    device_memory_gib : float or None
        Total memory of the device, GiB.
    load_seconds, prepare_seconds : float
        Loading the model (or probing the server), and prefilling the shared prompt prefix.
    prefix_tokens : int or None
        Tokens of the shared prompt prefix (system text, definitions, in-context examples).
    video_id : str
        The video whose first windows were classified.
    frames_per_window : int
    frame_size : tuple of int
        (height, width) of the frames the model sees, pixels, after preprocessing.
    input_mode : str
    visual_tokens_per_window : int
        Visual tokens of one window's frames.
    windows : int
        Windows classified.
    first_window_seconds : float
        The first window, warm-up included.
    seconds_per_window : float
        The others (with ``classification.batch_size``, or the server's concurrency), per window; the first one's
        time when only one window was classified.
    decision_path : str or None
        The server's scoring path (``prompt_logprobs``, ``choice_logprobs``, ``choice_parse`` or
        ``generate_parse``); None for the transformers backend.
    project_videos, project_windows : int
        Registered videos and their windows in all.
    project_video_seconds : float
        Their duration, seconds.
    estimated_seconds : float
        ``project_windows * seconds_per_window``: the time to classify the whole project at this speed, seconds.
    notes : list of str
        What the numbers need to be read with.
    """

    config: str
    backend: str
    model: str
    family: str
    device: str
    dtype: str
    device_name: str
    n_parameters: int | None
    weights_gib: float | None
    peak_memory_gib: float | None
    device_memory_gib: float | None
    load_seconds: float
    prepare_seconds: float
    prefix_tokens: int | None
    video_id: str
    frames_per_window: int
    frame_size: tuple[int, int]
    input_mode: str
    visual_tokens_per_window: int
    windows: int
    first_window_seconds: float
    seconds_per_window: float
    decision_path: str | None
    project_videos: int
    project_windows: int
    project_video_seconds: float
    estimated_seconds: float
    notes: list[str] = field(default_factory=list)

    def report(self) -> str:
        """The check as lines of text (what ``mousefear check-model`` prints)."""
        params = f", {_count(self.n_parameters)} parameters" if self.n_parameters else ""
        if self.backend == "openai":
            where = f"openai server {self.device}; scoring path {self.decision_path}"
            memory = "on the server (not seen from here)"
        else:
            name = f" ({self.device_name})" if self.device_name else ""
            where = f"transformers on {self.device}{name} as {self.dtype}"
            parts = [f"weights {_size(self.weights_gib)}" if self.weights_gib is not None else "weights not counted"]
            if self.peak_memory_gib is not None:
                what = "allocated on the GPU" if self.device.startswith("cuda") else "resident (whole process)"
                parts.append(f"peak {_size(self.peak_memory_gib)} {what}")
            if self.device_memory_gib is not None:
                parts.append(f"of {_size(self.device_memory_gib)}")
            memory = ", ".join(parts)
        prefix = f"{self.prefix_tokens} tokens" if self.prefix_tokens is not None else "size not reported"
        h, w = self.frame_size
        lines = [
            f"model check of {self.config}",
            f"  model     {self.model} ({self.family}{params})",
            f"  backend   {where}",
            f"  memory    {memory}",
            f"  loading   {self.load_seconds:.1f} s; shared prompt prefix ({prefix}) in {self.prepare_seconds:.1f} s",
            f"  windows   {self.windows} of {self.video_id}: {self.frames_per_window} frames of {w}x{h} pixels as "
            f"{self.input_mode}, {self.visual_tokens_per_window} visual tokens per window",
            f"  speed     {self.seconds_per_window:.2f} s per window (the first {self.first_window_seconds:.2f} s, "
            "with warm-up)",
            f"  project   {self.project_videos} video(s), {self.project_windows} windows "
            f"({_duration(self.project_video_seconds)} of video): about {_duration(self.estimated_seconds)} on this "
            "machine",
        ]
        lines += [f"  note      {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def _count(n: int) -> str:
    return f"{n / 1e9:.2f} billion" if n >= 1e9 else f"{n / 1e6:.2f} million" if n >= 1e6 else f"{n:,}"


def _size(gib: float) -> str:
    return f"{gib:.2f} GiB" if gib >= 1 else f"{gib * 1024:.1f} MiB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _peak_rss_gib() -> float | None:
    """Peak resident memory of this process, GiB (ru_maxrss: kilobytes on Linux, bytes on macOS; None on Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (_GIB if sys.platform == "darwin" else 2**20)


def check_model(config: ConfigLike, windows: int = 2) -> ModelCheck:
    """Load the configured model (or say exactly why not), classify a few windows, and tell what a lab plans with.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder.
    windows
        Windows of the first registered video to classify (at least 1; 2 or more separate the warm-up of the
        first window from the speed of the others).

    Returns
    -------
    ModelCheck
        The measurements; ``str()`` of it is the report ``mousefear check-model`` prints.

    Raises
    ------
    ConfigError
        ``classification.backend`` is the motion detector (it has no model to check), or ``windows`` < 1.
    ProjectError
        No video is registered.
    ModelError
        The model is not on this machine (the message gives the command that downloads it), its family is not
        supported, the device has not the memory for its weights in the configured dtype, no CUDA GPU is there
        for ``device: cuda``, or the server does not answer.
    """
    project = Project.open(config)
    if not isinstance(windows, int) or isinstance(windows, bool) or windows < 1:
        raise ConfigError(f"Expected windows to be a whole number >= 1, but got {windows!r}")
    s = project.settings
    cls = s.classification
    if cls.backend == "motion":
        raise ConfigError(f"{project.config_path}: classification.backend is motion, which has no model to check; "
                          "check-model checks the transformers and openai backends")
    if not project.videos:
        raise ProjectError(f"{project.config_path}: no video is registered; add videos first (mousefear add-videos)")
    overrides = {"local_files_only": True} if cls.backend == "transformers" else {}
    backend = build_backend(s, **overrides)
    assert isinstance(backend, WindowBackend)
    rs = run_settings(project, backend)  # reads the family from config.json; the prompt and its examples
    family = backend.family()
    cuda = False
    try:
        t0 = time.perf_counter()
        backend.load()
        load_seconds = time.perf_counter() - t0
        resolved = backend.resolved()
        device = str(resolved.get("device") or cls.openai.base_url)
        cuda = device.startswith("cuda")
        if cuda:
            import torch

            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        backend.prepare(rs.prompt, rs.examples)
        prepare_seconds = time.perf_counter() - t0
        video = project.videos[0]
        stream = iter_windows(video, cls.window_seconds, cls.stride_seconds, cls.frames_per_window,
                              crop=video.crop if rs.crop else None, select=range(windows))
        todo = [replace(w, frames=preprocess_window(w.frames, cls.preprocessing, grid=rs.grid)) for w in stream]
        t0 = time.perf_counter()
        first = backend.classify(todo[:1])[0]
        first_seconds = time.perf_counter() - t0
        rest_seconds = None
        if len(todo) > 1:
            t0 = time.perf_counter()
            for _ in backend.classify_stream(iter(todo[1:]), batch_size=cls.batch_size):
                pass
            rest_seconds = (time.perf_counter() - t0) / (len(todo) - 1)
        peak = device_total = None
        if cuda:
            import torch

            peak = torch.cuda.max_memory_allocated(device) / _GIB
            device_total = torch.cuda.get_device_properties(device).total_memory / _GIB
        elif cls.backend == "transformers":
            from mousefear.backends.checkpoints import available_memory

            peak = _peak_rss_gib()
            total = available_memory("cpu")[1]
            device_total = total / _GIB if total else None
    finally:
        backend.close()
    return _result(project, backend, rs, family, todo, first, first_seconds, rest_seconds, load_seconds,
                   prepare_seconds, peak, device_total)


def _result(project: Project, backend: Any, rs: Any, family: Any, todo: list, first: Any, first_seconds: float,
            rest_seconds: float | None, load_seconds: float, prepare_seconds: float, peak: float | None,
            device_total: float | None) -> ModelCheck:
    cls = project.settings.classification
    resolved = backend.resolved()
    server = cls.backend == "openai"
    device = cls.openai.base_url if server else str(resolved["device"])
    dtype = "server" if server else str(resolved["dtype"])
    n_params = getattr(backend, "n_parameters", None)
    weights = n_params * {"float32": 4, "bfloat16": 2, "float16": 2}[dtype] / _GIB if n_params else None
    device_name = ""
    if not server:
        device_name = "CPU"
        if device.startswith("cuda"):
            import torch

            device_name = torch.cuda.get_device_name(device)
    k, h, w = todo[0].frames.shape[:3]
    per_window = rest_seconds if rest_seconds is not None else first_seconds
    n_windows = sum(len(window_bounds(v.n_frames, v.fps, cls.window_seconds, cls.stride_seconds))
                    for v in project.videos)
    notes = []
    if rest_seconds is None:
        notes.append("one window only: its time includes the warm-up; check 2 or more windows for the speed")
    if not server and device == "cpu":
        notes.append("on a CPU the model takes seconds to minutes per window: it is meant for a GPU (or a server); "
                     "the motion backend is the CPU path")
    if server:
        notes.append(f"speed with up to {cls.openai.max_concurrency} requests in flight, as classify sends them; "
                     f"with only {len(todo) - 1 or 1} timed window(s) the server's concurrency is not filled")
    info = first.info or {}
    prefix = info.get("prefix_tokens")
    return ModelCheck(
        config=str(project.config_path), backend=cls.backend, model=cls.model, family=family.title, device=device,
        dtype=dtype, device_name=device_name, n_parameters=n_params, weights_gib=weights, peak_memory_gib=peak,
        device_memory_gib=device_total, load_seconds=load_seconds, prepare_seconds=prepare_seconds,
        prefix_tokens=None if prefix is None else int(prefix), video_id=todo[0].video_id, frames_per_window=int(k),
        frame_size=(int(h), int(w)), input_mode=cls.input_mode,
        visual_tokens_per_window=family.visual_tokens(int(k), int(h), int(w), cls.input_mode), windows=len(todo),
        first_window_seconds=first_seconds, seconds_per_window=per_window,
        decision_path=resolved.get("decision_path"), project_videos=len(project.videos),
        project_windows=n_windows, project_video_seconds=sum(v.n_frames / v.fps for v in project.videos),
        estimated_seconds=n_windows * per_window, notes=notes)
