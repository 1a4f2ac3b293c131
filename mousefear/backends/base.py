"""The two small protocols every backend implements, and what they return.

Two kinds of backends exist:

- **window backends** (:class:`WindowBackend`: Qwen2.5-VL through transformers, an OpenAI-compatible server) get
  the run's prompt and in-context examples once (:meth:`WindowBackend.prepare`) and then classify windows
  (:meth:`WindowBackend.classify`, or a stream of them with :meth:`WindowBackend.classify_stream`): for each
  window a probability for every behaviour and, where text was generated, the raw text;
- **video backends** (:class:`VideoBackend`: the motion detector) look at every frame of a video and return
  per-frame and per-window results at once (:meth:`VideoBackend.classify_video`).

Both are built the same way, after scikit-learn's habits:

- ``__init__`` only stores its parameters. Parameters that are settings of config.yaml have no default in the
  signature: their defaults live in the template, and :meth:`Backend.from_settings` fills them from validated
  :class:`~mousefear.core.settings.Settings` (each parameter is looked up by its name in the sections listed in
  :attr:`Backend.settings_sections`). Only parameters that are not settings carry a default.
- :meth:`Backend.load` does the expensive work (weights, probing a server); the pipeline calls it after it has
  checked that the run does not conflict with an existing one.
- :meth:`Backend.describe` reports provenance without side effects; its parameters are read from the
  constructor's signature (:meth:`Backend.get_params`), never listed by hand.
- :meth:`Backend.close` releases what :meth:`load` took; calling it twice is harmless.

Caching and resuming wrap a backend in the pipeline (:mod:`mousefear.pipeline.cache`); they never live inside it.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from mousefear.core.preprocess import PatchGrid
from mousefear.errors import ConfigError

if TYPE_CHECKING:
    from mousefear.core.prompts import Example, Prompt
    from mousefear.core.settings import Settings
    from mousefear.core.video import Video, Window

__all__ = ["Backend", "Routing", "VideoBackend", "VideoResult", "WindowBackend", "WindowResult",
           "check_probabilities"]


@dataclass
class WindowResult:
    """What a window backend says about one window.

    Attributes
    ----------
    probabilities : np.ndarray
        (n_behaviors,) float64 probabilities in the order of the backend's behaviours, summing to 1; all NaN
        when a generated answer named no behaviour (unparseable, never guessed).
    text : str
        Raw generated text ("" when the decision was made by scoring the labels).
    info : dict
        Anything else worth keeping per window (for example which decision path a server used).
    """

    probabilities: np.ndarray
    text: str = ""
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class VideoResult:
    """What a video backend says about one whole video.

    Attributes
    ----------
    frame_probabilities : np.ndarray
        (n_frames, n_behaviors) float32 probability per frame and behaviour (rows sum to 1, or are all NaN for a
        frame without a decision), in the order of the backend's behaviours.
    frame_label : np.ndarray
        (n_frames,) int16 index of the behaviour decided for each frame (the argmax of its row; -1 where none).
    start_frame, end_frame : np.ndarray
        (n_windows,) int64 half-open frame ranges ``[start_frame, end_frame)`` of the windows asked for.
    probabilities : np.ndarray
        (n_windows, n_behaviors) float32 per-window probabilities: the mean of the frame probabilities of the
        frames each window covers.
    signals : dict of str to np.ndarray
        Per-frame measurements behind the decision, each (n_frames,) float32 (for the motion backend: changed
        pixels, speed, ...).
    info : dict
        Per-video facts worth keeping (JSON-serialisable; for example the body length the speed unit came from).
        ``info["measurement"]``, when present, is what besides the signals a decision from them needs.
    units : dict of str to (str, str)
        ``(unit, description)`` of every signal; the signals are stored in the behaviour-vector file with them
        (:func:`~mousefear.formats.vectors.read_vector_measurements`).
    """

    frame_probabilities: np.ndarray
    frame_label: np.ndarray
    start_frame: np.ndarray
    end_frame: np.ndarray
    probabilities: np.ndarray
    signals: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    units: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.frame_label.shape[0])

    @property
    def n_windows(self) -> int:
        return int(self.start_frame.shape[0])


@dataclass
class Routing:
    """Which windows of a video a window backend decides without its model, from a pass over every frame
    (:meth:`WindowBackend.measure_video`, :meth:`WindowBackend.route`: the hybrid backend's motion detector).

    Attributes
    ----------
    decided : np.ndarray
        (n_windows,) bool: decided by the pass, not sent to the model.
    probabilities : np.ndarray
        (n_windows, n_behaviors) float64: the pass's probabilities (used for the decided windows).
    hints : list of str
        (n_windows,) what the model is told about each window it gets ("" = nothing).
    decided_by : str
        Name recorded for the decided windows (``"motion"``).
    model : str
        Name recorded for the windows the model decides (``"transformers"``, ``"openai"``).
    """

    decided: np.ndarray
    probabilities: np.ndarray
    hints: list[str]
    decided_by: str
    model: str


def check_probabilities(p: np.ndarray, n_behaviors: int) -> np.ndarray:
    """Validate one probability vector: (n_behaviors,) finite, >= 0, summing to 1 within 1e-4, or all NaN."""
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (n_behaviors,):
        raise ValueError(f"Expected probabilities of shape ({n_behaviors},), but got {p.shape}")
    if np.isnan(p).all():
        return p
    if not np.isfinite(p).all() or (p < 0).any() or abs(p.sum() - 1.0) > 1e-4:
        raise ValueError(f"Expected probabilities >= 0 summing to 1, but got {p.tolist()}")
    return p


class Backend:
    """What every backend shares: its parameters, how it is built from settings, provenance, closing.

    Parameters
    ----------
    behaviors
        Behaviour names, in the order of the probability vectors the backend returns.
    """

    #: short name recorded in outputs ("transformers", "openai", "motion")
    name: ClassVar[str] = ""
    #: "window" or "video": which of the two protocols the backend implements
    kind: ClassVar[str] = ""
    #: dotted sections of the settings where constructor parameters are looked up by name, in this order
    #: ("" = the top level), e.g. ``("classification.motion", "")``
    settings_sections: ClassVar[tuple[str, ...]] = ()
    #: parameters that never change results (where the work runs, how patiently): recorded, but not part of a
    #: run's identity, so they may differ between the calls of one run
    runtime_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, behaviors: Sequence[str]):
        self.behaviors = list(behaviors)

    # ---------------------------------------------------------------- parameters
    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the constructor's parameters (besides ``behaviors``), in signature order."""
        sig = inspect.signature(cls.__init__)
        return [n for n, p in sig.parameters.items() if n not in ("self", "behaviors")
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters and their values (read back from the attributes of the same names)."""
        return {n: getattr(self, n) for n in self.param_names()}

    @classmethod
    def settings_key(cls, param: str, settings: Settings) -> str | None:
        """The dotted settings key a constructor parameter comes from (None: not a setting)."""
        for section in cls.settings_sections:
            node: Any = settings
            for part in [p for p in section.split(".") if p]:
                node = getattr(node, part)
            if param in {f for f in getattr(node, "__dataclass_fields__", {})}:
                return f"{section}.{param}" if section else param
        return None

    @classmethod
    def check_settings(cls, settings: Settings) -> None:  # noqa: B027 - optional hook
        """Checks of settings that only this backend needs (raise ConfigError); default: none."""

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> Backend:
        """Build the backend from validated settings.

        Parameters
        ----------
        settings
            The project's settings (:attr:`mousefear.core.project.Project.settings`).
        overrides
            Constructor parameters to use instead. Those that are settings go through the settings' checks
            (``freeze_threshold=2`` is refused like the same value in config.yaml); the others are passed as
            given.

        Raises
        ------
        ConfigError
            An override is not a parameter of this backend, or a value is refused.
        """
        names = cls.param_names()
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise ConfigError(f"Expected parameters of the {cls.name} backend among {', '.join(names)}, but got "
                              f"{', '.join(unknown)}")
        keys = {n: cls.settings_key(n, settings) for n in names}
        changes = {keys[n]: v for n, v in overrides.items() if keys[n] is not None}
        if changes:
            settings = settings.updated(changes)
        cls.check_settings(settings)
        params: dict[str, Any] = {n: v for n, v in overrides.items() if keys[n] is None}
        for n, key in keys.items():
            if key is None:
                continue
            node: Any = settings
            for part in key.split("."):
                node = getattr(node, part)
            params[n] = node
        return cls(settings.behavior_names, **params)

    # ---------------------------------------------------------------- life cycle
    def load(self) -> None:  # noqa: B027 - optional hook
        """Do the expensive work (load weights, probe a server). Called once, before classifying."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`load` took (models, connections, threads); harmless to call again."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- provenance
    @property
    def model_id(self) -> str:
        """The model a run records ("" by default)."""
        return ""

    def resolved(self) -> dict[str, Any]:
        """Facts learnt by :meth:`load` that a run records (the model's commit, the server's decision path, the
        device); empty before loading."""
        return {}

    def derived(self) -> dict[str, Any]:
        """Values that follow from the parameters and are worth recording with them (default: none)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Provenance of the backend, without side effects.

        Returns
        -------
        dict
            ``backend`` (name), ``model_id``, ``model_revision`` (as resolved by :meth:`load`, else as configured,
            else ""), ``settings`` (every constructor parameter, then :meth:`derived`), ``resolved``
            (:meth:`resolved`) and ``runtime`` (names of the settings that are not part of a run's identity).
        """
        resolved = self.resolved()
        params = {k: _plain(v) for k, v in self.get_params().items()}
        revision = resolved.get("model_revision") or params.get("model_revision") or ""
        return {"backend": self.name, "model_id": self.model_id, "model_revision": str(revision),
                "settings": {**params, **self.derived()}, "resolved": resolved,
                "runtime": list(self.runtime_params)}


class WindowBackend(Backend, abc.ABC):
    """A backend that classifies windows: gets the prompt once, then a probability vector per window."""

    kind = "window"

    def frame_grid(self) -> PatchGrid:
        """What frames are resized to before they come here: the model family's patch grid (sides multiples of
        ``factor``, at least ``min_pixels``). Called by the pipeline before the run's identity is worked out, so
        it may read a little (a model's config.json) but never loads weights. Default: Qwen2.5-VL's grid."""
        return PatchGrid()

    def measure_video(self, video: Video, window_bounds: np.ndarray, *, crop: tuple[int, int, int, int] | None,
                      progress: bool = True) -> VideoResult | None:
        """A pass over every frame of a video before its windows are classified, or None (default: none). The
        pipeline keeps its result in the run's cache, stores its measurements in the vector file, and asks
        :meth:`route` which windows it decides."""
        return None

    def route(self, measured: VideoResult, fps: float) -> Routing:
        """Which windows the pass of :meth:`measure_video` decides, and what the model is told of the others."""
        raise NotImplementedError(f"the {self.name} backend measures no video")

    @abc.abstractmethod
    def prepare(self, prompt: Prompt, examples: Sequence[Example]) -> None:
        """Receive the run's prompt and in-context examples once, before any window (after :meth:`load`)."""

    @abc.abstractmethod
    def classify(self, windows: Sequence[Window]) -> list[WindowResult]:
        """Classify a batch of windows; one result per window, in order."""

    def classify_stream(self, windows: Iterable[Window], batch_size: int = 1) -> Iterator[tuple[Window, WindowResult]]:
        """Classify a stream of windows in batches of ``batch_size``; yield ``(window, result)`` in order.

        Backends that overlap work across windows (a server with requests in flight) override this.
        """
        batch: list[Window] = []
        for window in windows:
            batch.append(window)
            if len(batch) >= batch_size:
                yield from zip(batch, self.classify(batch), strict=True)
                batch = []
        if batch:
            yield from zip(batch, self.classify(batch), strict=True)

    def classify_chains(self, chains: Iterable[Iterator[Window]],
                        batch_size: int = 1) -> Iterator[tuple[Window, WindowResult]]:
        """Classify chains of windows, each window depending on the result of the one before it in its chain.

        The windows of one video in autoregressive context form a chain: a window shows the label decided for the
        previous one, so it can be made only once that result is known. Here the next window of a chain is asked
        for only after the result of its previous window has been yielded (and handled by the caller); different
        chains run side by side. This default runs rounds: the next window of up to ``batch_size`` chains,
        classified as one batch (:meth:`classify`); a chain that ends makes room for the next one. Backends that
        keep requests in flight (a server) override it.

        Parameters
        ----------
        chains
            An iterable of iterators of windows (one per video), taken up lazily as room frees.
        batch_size
            Chains classified side by side (one window of each per batch).

        Yields
        ------
        (Window, WindowResult)
            In order within each chain; chains interleaved.
        """
        source = iter(chains)
        active: list[Iterator[Window]] = []
        exhausted = False
        while True:
            batch: list[Window] = []
            i = 0
            while True:
                while not exhausted and len(active) < batch_size:
                    chain = next(source, None)
                    if chain is None:
                        exhausted = True
                    else:
                        active.append(iter(chain))
                if i >= len(active):
                    break
                window = next(active[i], None)
                if window is None:
                    del active[i]  # the chain ended: the next chain takes its place in this round
                else:
                    batch.append(window)
                    i += 1
            if not batch:
                return
            yield from zip(batch, self.classify(batch), strict=True)


class VideoBackend(Backend, abc.ABC):
    """A backend that looks at every frame of a video and returns per-frame and per-window results at once."""

    kind = "video"

    @abc.abstractmethod
    def classify_video(self, video: Video, window_bounds: np.ndarray, *, crop: tuple[int, int, int, int] | None,
                       progress: bool = True) -> VideoResult:
        """Classify every frame of a registered video, and the given windows.

        Parameters
        ----------
        video
            The registered video (path, fps, frame count, pixels_per_cm are used).
        window_bounds
            (n_windows, 2) int64 half-open ``[start_frame, end_frame)`` ranges to report probabilities for.
        crop
            ``(x, y, width, height)`` analysed part of the frame in pixels, or None for the whole frame.
        progress
            Show a progress bar.
        """


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
