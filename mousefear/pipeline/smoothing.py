"""Temporal smoothing of a run's decisions: Viterbi decoding with a sticky transition matrix, then short bouts merged.

Every window of a run is classified alone, so its decisions flicker: a second of exploring inside a long freezing
bout, a single fleeing window. :func:`smooth` writes a *derived run* (:mod:`mousefear.pipeline.derived`) next to
the raw one, computed from the raw run's stored probabilities without the model:

1. **Viterbi decoding.** The behaviours are the states of a hidden Markov model whose emission score of window
   ``t`` in state ``k`` is the run's probability ``p[t, k]`` (the classifier's posterior used as a scaled
   likelihood, with equal prior weight for every behaviour), whose transition matrix keeps the behaviour with
   probability ``s`` (``postprocess.stay_probability``) and moves to each other behaviour with ``(1 - s) / (K -
   1)``, and whose first window has every behaviour equally likely. The decoded sequence is the one of highest
   joint probability (:func:`viterbi`, in log space, exact). A probability of exactly 0 forbids the behaviour
   in that window (a backend that does not model grooming never gets it). Ties go to the behaviour listed first.
   With ``s = 1 / K`` the transition matrix is uniform and the decoding is the per-window argmax.
2. **Minimum bout lengths** (``postprocess.min_bout_seconds``): a bout is a run of consecutive windows with the
   same decision; its duration is the time its windows own (each window owns the time from its start to the next
   window's start, or to its own end when that comes first; the last window owns its whole length). While some
   bout is shorter than its behaviour's minimum by more than one frame (window bounds are rounded to frames: two
   one-second windows at 29.97 fps may hold 59 frames) and touches another bout, the
   shortest such bout (the earliest of equally short ones) takes the behaviour of one neighbour: the one whose
   behaviour has the larger summed probability over the short bout's windows; equal sums: the longer neighbour;
   equally long: the earlier one. It then joins that neighbour (and the bout beyond, when both neighbours had that
   behaviour). A bout with no neighbour (the whole video, or a bout between windows without an answer) is kept
   as it is. Every merge removes at least one bout, so the rule ends (:func:`merge_short_bouts`).

**Windows without an answer** (all-NaN probabilities: an unparseable answer, or no animal found) carry no
evidence: in the decoding every behaviour is equally likely there, so the chain runs through them and the
decisions on both sides stay coupled as if the window were there (over a long gap the coupling fades, as the
transition matrix raised to the gap's length approaches the uniform one). They keep no decision in the smoothed
run (NaN probabilities, no label), as in the raw one: smoothing never invents a decision where the classifier
gave none. They end bouts: a bout next to them has no neighbour on that side.

The smoothed run's window probabilities are 1 for the decided behaviour and 0 for the others (as generate mode's
are); the raw run keeps the probabilities. Its frames take their windows' decisions, as in every window run; a
smoothed run of the motion detector is therefore decided per window, not per frame.

Why not hmmlearn: its Viterbi works on models with its own emission distributions; decoding given per-window
probabilities needs a subclass overriding a private method, for about twenty lines of numpy that are tested here
against an exhaustive search. The dependency (compiled, in limited maintenance) would not earn its place.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from mousefear.core.project import ConfigLike, Project
from mousefear.errors import ConfigError, ProjectError
from mousefear.pipeline.derived import Derivation, DerivedVideo, ParentVideo, derive_run
from mousefear.pipeline.runs import read_run_json

__all__ = ["Smooth", "hmm_decode", "merge_short_bouts", "owned_seconds", "smooth", "sticky_transition", "viterbi"]

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------- pure functions
def viterbi(log_emission: np.ndarray, log_transition: np.ndarray, log_initial: np.ndarray) -> tuple[np.ndarray, float]:
    """The most probable state sequence of a hidden Markov model (exact, in log space).

    Parameters
    ----------
    log_emission : np.ndarray
        (n_steps, n_states) float log emission score of each step in each state (``-inf`` forbids the state).
    log_transition : np.ndarray
        (n_states, n_states) float log probability of moving from state ``i`` (row) to state ``j`` (column).
    log_initial : np.ndarray
        (n_states,) float log probability of each state at the first step.

    Returns
    -------
    path : np.ndarray
        (n_steps,) int64 state of each step.
    score : float
        The path's log score: ``log_initial[path[0]] + sum(log_emission[t, path[t]]) + sum(log_transition[path[t
        - 1], path[t]])``. Ties between paths go to the lower state index, the latest step decided first.

    Raises
    ------
    ValueError
        Shapes that do not fit, or no path of finite score.
    """
    em = np.asarray(log_emission, dtype=np.float64)
    tr = np.asarray(log_transition, dtype=np.float64)
    init = np.asarray(log_initial, dtype=np.float64)
    if em.ndim != 2 or tr.shape != (em.shape[1], em.shape[1]) or init.shape != (em.shape[1],):
        raise ValueError(f"Expected emissions (n_steps, K), transitions (K, K) and initial (K,), but got "
                         f"{em.shape}, {tr.shape} and {init.shape}")
    n, k = em.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0.0
    delta = init + em[0]
    back = np.zeros((n, k), dtype=np.int64)
    states = np.arange(k)
    for t in range(1, n):
        scores = delta[:, None] + tr  # (from, to)
        back[t] = np.argmax(scores, axis=0)
        delta = scores[back[t], states] + em[t]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(np.argmax(delta))
    score = float(delta[path[-1]])
    if not np.isfinite(score):
        raise ValueError("Expected at least one state sequence of finite score, but every one is impossible")
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path, score


def sticky_transition(n_states: int, stay: float) -> np.ndarray:
    """(n_states, n_states) transition matrix: ``stay`` on the diagonal, ``(1 - stay) / (n_states - 1)`` elsewhere
    (a single state always stays)."""
    if n_states == 1:
        return np.ones((1, 1))
    out = np.full((n_states, n_states), (1.0 - stay) / (n_states - 1))
    np.fill_diagonal(out, stay)
    return out


def hmm_decode(probabilities: np.ndarray, stay: float) -> np.ndarray:
    """Viterbi decoding of per-window probabilities (see the module).

    Parameters
    ----------
    probabilities : np.ndarray
        (n_windows, n_behaviors) float probability per window; an all-NaN row is a window without an answer
        (no evidence: every behaviour equally likely there).
    stay : float
        Probability of keeping the behaviour from one window to the next, in (0, 1).

    Returns
    -------
    np.ndarray
        (n_windows,) int64 behaviour index of each window (windows without an answer included).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_em = np.log(p)
    log_em[np.isnan(p).all(axis=1)] = 0.0
    k = p.shape[1]
    with np.errstate(divide="ignore"):
        log_tr = np.log(sticky_transition(k, stay))
    path, _ = viterbi(log_em, log_tr, np.full(k, -np.log(k)))
    return path


def owned_seconds(start_frame: np.ndarray, end_frame: np.ndarray, fps: float) -> np.ndarray:
    """(n_windows,) float seconds each window owns: from its start to the next window's start, or to its own end
    when that comes first; the last window owns its whole length."""
    start = np.asarray(start_frame, dtype=np.int64)
    end = np.asarray(end_frame, dtype=np.int64)
    until = end.copy()
    if start.size > 1:
        until[:-1] = np.minimum(start[1:], end[:-1])
    return (until - start) / float(fps)


def _bouts(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """``(first, stop, label)`` of every run of equal labels >= 0 (``stop`` exclusive); -1 separates runs."""
    if labels.size == 0:
        return []
    cut = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], cut])
    stops = np.concatenate([cut, [labels.size]])
    return [(int(a), int(b), int(labels[a])) for a, b in zip(starts, stops, strict=True) if labels[a] >= 0]


def merge_short_bouts(labels: np.ndarray, evidence: np.ndarray, seconds: np.ndarray, minimum: np.ndarray,
                      tolerance: float = 0.0) -> np.ndarray:
    """Merge bouts shorter than their behaviour's minimum into a neighbour (the rule of the module).

    Parameters
    ----------
    labels : np.ndarray
        (n_windows,) int behaviour index per window, -1 for a window without a decision (it ends bouts).
    evidence : np.ndarray
        (n_windows, n_behaviors) float probabilities that choose the neighbour (NaN counts as 0).
    seconds : np.ndarray
        (n_windows,) float seconds each window owns (:func:`owned_seconds`).
    minimum : np.ndarray
        (n_behaviors,) float shortest bout of each behaviour, in seconds (0: none).
    tolerance : float
        A bout counts as short when its duration is below ``minimum - tolerance`` (one frame: ``1 / fps``).

    Returns
    -------
    np.ndarray
        (n_windows,) int64 labels after merging (a new array).
    """
    out = np.asarray(labels, dtype=np.int64).copy()
    ev = np.nan_to_num(np.asarray(evidence, dtype=np.float64), nan=0.0)
    secs = np.asarray(seconds, dtype=np.float64)
    need = np.asarray(minimum, dtype=np.float64)
    if not (need > 0).any():
        return out
    while True:
        bouts = _bouts(out)
        durations = [float(secs[a:b].sum()) for a, b, _ in bouts]
        best = None
        for i, ((a, b, lab), dur) in enumerate(zip(bouts, durations, strict=True)):
            touching = [j for j in (i - 1, i + 1) if 0 <= j < len(bouts)
                        and (bouts[j][1] == a or bouts[j][0] == b)]
            if dur < need[lab] - tolerance - 1e-9 and touching and (best is None or dur < best[1]):
                best = (i, dur, touching)
        if best is None:
            return out
        i, _, touching = best
        a, b, _ = bouts[i]
        # larger summed probability of the neighbour's behaviour, then the longer neighbour, then the earlier one
        j = max(touching, key=lambda j: (ev[a:b, bouts[j][2]].sum(), durations[j], -j))
        out[a:b] = bouts[j][2]


# ------------------------------------------------------------------------------------------------ the derivation
class Smooth(Derivation):
    """Viterbi decoding then minimum bout lengths (see the module).

    Parameters
    ----------
    behaviors
        The run's behaviours, in column order.
    stay_probability
        Probability of keeping the behaviour from one window to the next, in (0, 1).
    min_bout_seconds
        Behaviour -> shortest bout in seconds (behaviours not listed: none).
    """

    kind = "smooth"

    def __init__(self, behaviors: Sequence[str], stay_probability: float, min_bout_seconds: Mapping[str, float]):
        self.behaviors = list(behaviors)
        self.stay_probability = float(stay_probability)
        self.min_bout_seconds = {b: float(min_bout_seconds[b]) for b in self.behaviors
                                 if float(min_bout_seconds.get(b, 0.0)) > 0}

    def parameters(self) -> dict[str, Any]:
        return {"method": "hmm", "stay_probability": self.stay_probability, "min_bout_seconds": self.min_bout_seconds}

    def check_parent(self, parent: str, record: Mapping[str, Any]) -> None:
        """A smoothed run is not smoothed again (its probabilities are decisions): smooth its parent."""
        if any(d.get("kind") == self.kind for d in record["settings"].get("derivations") or []):
            raise ProjectError(f"Run {parent!r} is smoothed already (derived from run "
                               f"{(record.get('derived_from') or {}).get('run')!r}); smooth that run instead")

    def decide(self, probabilities: np.ndarray, start_frame: np.ndarray, end_frame: np.ndarray,
               fps: float) -> np.ndarray:
        """(n_windows,) int64 smoothed behaviour index per window, -1 where the window has no answer."""
        p = np.asarray(probabilities, dtype=np.float64)
        answered = ~np.isnan(p).all(axis=1)
        labels = np.where(answered, hmm_decode(p, self.stay_probability), -1)
        minimum = np.array([self.min_bout_seconds.get(b, 0.0) for b in self.behaviors])
        return merge_short_bouts(labels, p, owned_seconds(start_frame, end_frame, fps), minimum, 1.0 / fps)

    def derive(self, video: ParentVideo) -> DerivedVideo:
        if video.behaviors != self.behaviors:
            raise ProjectError(f"{video.path}: Expected the behaviours {self.behaviors} of the run, but the file has "
                               f"{video.behaviors}")
        probs = video.windows[video.behaviors].to_numpy(dtype=np.float64)
        labels = self.decide(probs, video.windows["start_frame"].to_numpy(), video.windows["end_frame"].to_numpy(),
                             video.fps)
        out = np.full(probs.shape, np.nan)
        decided = labels >= 0
        out[decided] = 0.0
        out[np.flatnonzero(decided), labels[decided]] = 1.0
        return DerivedVideo(probabilities=out)


def smooth(
    config: ConfigLike,
    run: str | None = None,
    *,
    name: str | None = None,
    stay_probability: float | None = None,
    min_bout_seconds: Mapping[str, float] | None = None,
    videos: Iterable[str] | str | None = None,
    overwrite: bool = False,
) -> str:
    """Smooth a run's decisions over time into a new run, without the model (Viterbi, then minimum bout lengths).

    The method is described in docs/postprocessing.md and :mod:`mousefear.pipeline.smoothing`. The new run is a
    derived run (``derived_from`` in its run.json and files): evaluate, compare, summarize and export treat it like
    any other. Smoothing a run of the same settings again does nothing for finished videos.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.
    run
        The run to smooth (default: ``classification.run``, else the only or the newest run).
    name
        Name of the smoothed run; default ``<run>_smooth_<8 hex digits of its settings' hash>``.
    stay_probability
        Probability of keeping the behaviour from one window to the next, in (0, 1); default
        ``postprocess.stay_probability`` of config.yaml.
    min_bout_seconds
        Shortest bout per behaviour, in seconds (``{"freezing": 2.0}``); default ``postprocess.min_bout_seconds``.
    videos
        Only these videos of the run (default: all of them).
    overwrite
        Smooth finished videos again; replace a run of that name made with other settings.

    Returns
    -------
    str
        The smoothed run's name; its files are in ``behavior-vectors/<name>/``.

    Raises
    ------
    ConfigError
        A stay probability outside (0, 1), or a minimum that is negative or names no behaviour of the run.
    ProjectError
        The run is smoothed already, or a run of that name exists with other settings.
    """
    project = Project.open(config)
    changes: dict[str, Any] = {}
    if stay_probability is not None:
        changes["postprocess.stay_probability"] = stay_probability
    if min_bout_seconds is not None:
        changes["postprocess.min_bout_seconds"] = dict(min_bout_seconds)
    pp = project.settings.updated(changes).postprocess if changes else project.settings.postprocess
    parent = project.select_run(run)
    behaviors = [b["name"] for b in read_run_json(project, parent)["settings"].get("behaviors", [])]
    unknown = [b for b in pp.min_bouts if b not in behaviors]
    if unknown:
        raise ConfigError(f"Expected minimum bout lengths of the behaviours of run {parent!r} "
                          f"({', '.join(behaviors)}), but got {', '.join(unknown)}")
    derivation = Smooth(behaviors, pp.stay_probability, pp.min_bouts)
    logger.info("Smoothing run %s: stay probability %g, minimum bouts %s", parent, pp.stay_probability,
                ", ".join(f"{b} {s:g} s" for b, s in derivation.min_bout_seconds.items()) or "none")
    return derive_run(project, parent, derivation, name=name, videos=videos, overwrite=overwrite)
