"""Rethresholding: the motion detector's decisions made again from a run's stored measurements, in seconds.

The motion backend stores its per-frame measurements in every behaviour-vector file (group ``measurements/``,
:func:`~mousefear.formats.vectors.read_vector_measurements`). Its decision settings (the thresholds, the minimum
freezing duration, the fleeing rule, the behaviour names: every parameter but those of
:data:`~mousefear.backends.motion.MEASUREMENT_SETTINGS`) can therefore change without decoding the videos
again. :func:`rethreshold` re-decides a motion run with the decision settings of config.yaml (for example those
:func:`~mousefear.pipeline.calibration.calibrate_motion` just wrote), changed further by ``changes``, and writes
a new run through :func:`~mousefear.pipeline.derived.derive_run`. The new run is the run
:func:`~mousefear.pipeline.classify.classify_videos` would make with those settings, file for file (the same
settings, identity, default name and results), made without decoding; its run.json and files record the
parent run (``derived_from``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from mousefear.core.project import ConfigLike, Project
from mousefear.errors import ConfigError, ProjectError, VectorFileError
from mousefear.pipeline.derived import Derivation, DerivedVideo, ParentVideo, derive_run
from mousefear.pipeline.runs import name_from_settings, read_run_json

__all__ = ["Rethreshold", "rethreshold"]

logger = logging.getLogger(__name__)


class Rethreshold(Derivation):
    """Re-decide a motion run with another motion backend of the same measurement settings.

    Parameters
    ----------
    backend
        A :class:`~mousefear.backends.motion.MotionBackend` with the parent's measurement settings and the
        decision settings wanted.
    changed
        Setting name -> ``(parent's value, new value)`` of the decision settings that differ (recorded).
    """

    kind = "rethreshold"

    def __init__(self, backend: Any, changed: Mapping[str, tuple[Any, Any]]):
        self.backend = backend
        self.changed = dict(changed)

    def parameters(self) -> dict[str, Any]:
        return {"changed": {k: {"from": a, "to": b} for k, (a, b) in sorted(self.changed.items())}}

    def check_parent(self, parent: str, record: Mapping[str, Any]) -> None:
        """A run derived by another kind of derivation (smoothing, ...) is not re-decided: its results are not
        the decisions of its measurements."""
        steps = record["settings"].get("derivations") or []
        if steps:
            kinds = ", ".join(str(d.get("kind")) for d in steps)
            raise ProjectError(f"Run {parent!r} is derived ({kinds}) from run "
                               f"{(record.get('derived_from') or {}).get('run')!r}; rethreshold that run instead "
                               "and derive again")

    def run_settings(self, parent: Mapping[str, Any]) -> dict[str, Any]:
        """The parent's settings with the backend described as it is now: the settings a classification with
        this backend would record (so the identity and the default name are those of that classification)."""
        desc = self.backend.describe()
        desc.pop("resolved", None)
        return {**parent, "backend": desc}

    def default_name(self, parent: str, settings: Mapping[str, Any], sha: str) -> str:
        return name_from_settings(settings, sha)

    def derive(self, video: ParentVideo) -> DerivedVideo:
        from mousefear.pipeline.classify import video_measurements

        table = video.measurements
        if table is None:
            raise VectorFileError(f"{video.path} has no per-frame measurements (made by an older mousefear); "
                                  "classify the video again with the motion backend to rethreshold it later")
        b = self.backend
        ppcm = video.attrs.get("pixels_per_cm")
        b.check_scale(ppcm, video.path, "it had none when it was measured: use flee_speed_unit: body_lengths/s, "
                      "or classify the video again with its pixels_per_cm")
        m = {name: table[name].to_numpy() for name in table.columns}
        m.update(table.attrs["measurement"])
        res = b.decide_from_measurements(m, fps=video.fps, window_bounds=video.window_bounds, pixels_per_cm=ppcm)
        return DerivedVideo(probabilities=res.probabilities, frame_probabilities=res.frame_probabilities,
                            frame_label=res.frame_label, measurements=video_measurements(res))


def rethreshold(
    config: ConfigLike,
    run: str | None = None,
    *,
    name: str | None = None,
    changes: Mapping[str, Any] | None = None,
    videos: Iterable[str] | str | None = None,
    overwrite: bool = False,
) -> str:
    """Re-decide a motion run from its stored measurements with other thresholds, into a new run (no decoding).

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.
    run
        The motion run to re-decide (default: ``classification.run``, else the only or the newest run).
    name
        Name of the new run; default the name a classification with these settings gets (``motion_<hash>``).
    changes
        Decision settings of the motion backend to use instead of config.yaml's, by parameter name (e.g.
        ``{"body_change_threshold": 0.05, "min_freeze_seconds": 2}``; ``freezing_behavior`` included); checked
        as in config.yaml.
    videos
        Only these videos of the run (default: all of them).
    overwrite
        Re-decide finished videos again; replace a run of that name made with other settings.

    Returns
    -------
    str
        The new run's name; its files are in ``behavior-vectors/<name>/``.

    Raises
    ------
    ProjectError
        The run was not made by the motion backend, the settings do not differ from the run's, or a run of
        that name exists with other settings.
    ConfigError
        A change names a measurement setting (which needs decoding again) or no motion setting, or a value is
        refused.
    VectorFileError
        A file of the run has no stored measurements (made by an older mousefear).
    """
    from mousefear.backends.motion import MEASUREMENT_SETTINGS, MotionBackend

    project = Project.open(config)
    parent = project.select_run(run)
    record = read_run_json(project, parent)
    desc = record["settings"].get("backend") or {}
    if desc.get("backend") != MotionBackend.name:
        raise ProjectError(f"Run {parent!r} was made by the {desc.get('backend')!r} backend; rethreshold re-decides "
                           "runs of the motion backend from their stored measurements")
    old = {k: desc["settings"][k] for k in MotionBackend.param_names() if k in desc.get("settings", {})}
    measured = MEASUREMENT_SETTINGS[old.get("method", "pixels")]
    changes = dict(changes or {})
    bad = sorted(set(changes) & set(measured))
    if bad:
        raise ConfigError(f"Expected decision settings to change, but {', '.join(bad)} changes the measurements; "
                          "classify the videos again for that")
    now = MotionBackend.from_settings(project.settings, **changes).get_params()
    for key in measured:
        if key in old and now[key] != old[key]:
            logger.warning("classification.motion.%s is %r in config.yaml but run %s was measured with %r: the "
                           "new run keeps %r (classify again for the other value)", key, now[key], parent, old[key],
                           old[key])
    params = {k: (old[k] if k in measured else now[k]) for k in now}
    behaviors = [b["name"] for b in record["settings"].get("behaviors", [])]
    roles = [params["freezing_behavior"], params["moving_behavior"]]
    missing = [b for b in roles if b not in behaviors]
    if missing:
        raise ConfigError(f"Expected the freezing and moving behaviours among the behaviours of run {parent!r} "
                          f"({', '.join(behaviors)}), but {', '.join(missing)} is not")
    backend = MotionBackend(behaviors, **params)
    changed = {k: (old.get(k), params[k]) for k in params if old.get(k) != params[k]}
    if changed:
        logger.info("Rethresholding run %s: %s", parent,
                    ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in sorted(changed.items())))
    return derive_run(project, parent, Rethreshold(backend, changed), name=name, videos=videos, overwrite=overwrite)
