"""The sections of a project's settings: one frozen dataclass per section of config.yaml.

Each field carries its check (``_field(check, type)``, :mod:`mousefear.core.checks`); the root object that holds
them, the parsing of config.yaml and the messages of a wrong value are in :mod:`mousefear.core.settings`, from
which these classes are also imported.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from mousefear.core.checks import (
    Check,
    _field,
    _float_or_none,
    _section,
    _str_date,
    boolean,
    choice,
    date_text,
    http_urls,
    int_at_least,
    iso_duration,
    list_of,
    list_of_text,
    nonnegative_number,
    number_between,
    odd_or_zero,
    optional,
    parse_time,
    positive_number,
    run_name,
    sbatch_options,
    seconds_per_name,
    text,
)

__all__ = [
    "Behavior",
    "ClassificationSettings",
    "ClusterSettings",
    "Epoch",
    "EvaluationSettings",
    "ExemplarSettings",
    "HybridSettings",
    "MotionSettings",
    "NWBSettings",
    "OpenAISettings",
    "PostprocessSettings",
    "PreprocessingSettings",
    "ProjectInfo",
]


@dataclass(frozen=True)
class ProjectInfo:
    """``project``: who made the project and when."""

    name: str = _field(text, str)
    experimenter: str = _field(text, str)
    date: str = _field(date_text, _str_date)  # YYYY-MM-DD
    config_version: int = _field(int_at_least(1))


@dataclass(frozen=True)
class Behavior:
    """One entry of ``behaviors``: the class name and the one-line definition shown to the model."""

    name: str
    definition: str


@dataclass(frozen=True)
class ExemplarSettings:
    """``exemplars``: how candidate example windows are picked."""

    method: str = _field(choice("kmeans", "uniform", "motion"))
    n_per_video: int = _field(int_at_least(1))
    downsample_width: int = _field(int_at_least(4))  # pixels
    contact_sheet: bool = _field(boolean)


@dataclass(frozen=True)
class PreprocessingSettings:
    """``classification.preprocessing``: the chain applied to every window's frames (see
    :func:`mousefear.core.preprocess.preprocess_window`)."""

    crop: bool = _field(boolean)
    max_pixels: int = _field(int_at_least(28 * 28))  # pixels per frame after resizing
    grayscale: bool = _field(boolean)
    clahe: bool = _field(boolean)
    clahe_clip_limit: float = _field(positive_number, float)
    clahe_tile_grid: int = _field(int_at_least(1))
    motion: str = _field(choice("none", "difference", "overlay"))


@dataclass(frozen=True)
class OpenAISettings:
    """``classification.openai``: the OpenAI-compatible server backend."""

    base_url: str | tuple[str, ...] = _field(http_urls, lambda v: tuple(v) if isinstance(v, list | tuple) else v)
    api_key_env: str | None = _field(optional(text))
    timeout_seconds: float = _field(positive_number, float)
    max_concurrency: int = _field(int_at_least(1))
    scoring: str = _field(choice("auto", "prompt_logprobs", "choice_logprobs", "parse"))
    image_format: str = _field(choice("png", "jpeg"))
    max_attempts: int = _field(int_at_least(1))
    backoff_seconds: float = _field(nonnegative_number, float)


@dataclass(frozen=True)
class MotionSettings:
    """``classification.motion``: the classical freezing detector (its freezing class is the top-level
    ``freezing_behavior``)."""

    method: str = _field(choice("animal", "pixels"))
    pixel_cutoff: float = _field(number_between(0, 255), float)  # grey levels
    body_change_threshold: float = _field(number_between(0, 1), float)  # fraction of the animal's area
    still_speed: float = _field(positive_number, float)  # body lengths per second
    lag_seconds: float = _field(positive_number, float)
    animal_contrast: float = _field(number_between(1, 255), float)  # grey levels
    blur_kernel: int = _field(odd_or_zero)  # pixels of the shrunk frame
    freeze_threshold: float = _field(number_between(0, 1), float)  # fraction of the crop's pixels
    min_freeze_seconds: float = _field(nonnegative_number, float)
    freezing_unit: str = _field(choice("window", "frame"))
    flee_speed: float | None = _field(optional(positive_number), _float_or_none)
    flee_speed_unit: str = _field(choice("cm/s", "body_lengths/s"))
    animal: str = _field(choice("dark", "bright"))
    analysis_width: int = _field(int_at_least(16))  # pixels
    max_repeat_frames: int = _field(int_at_least(0))
    moving_behavior: str = _field(text)
    fleeing_behavior: str | None = _field(optional(text))


@dataclass(frozen=True)
class HybridSettings:
    """``classification.hybrid``: the motion detector decides the windows it is sure of, a model the rest."""

    model_backend: str = _field(choice("transformers", "openai"))
    still_margin: float = _field(number_between(0, 1), float)  # of the freezing threshold
    moving_margin: float = _field(positive_number, float)  # times the freezing threshold
    motion_hint: bool = _field(boolean)


@dataclass(frozen=True)
class ClassificationSettings:
    """``classification``: one run's model, prompt, windows and backend settings."""

    run: str | None = _field(optional(run_name))
    backend: str = _field(choice("transformers", "openai", "motion", "hybrid"))
    model: str = _field(text)
    model_revision: str | None = _field(optional(text))
    model_family: str = _field(choice("auto", "qwen2_5_vl", "qwen3_vl"))  # the names of backends.families.FAMILIES
    dtype: str = _field(choice("auto", "bfloat16", "float16", "float32"))
    device: str = _field(text)
    decision: str = _field(choice("score", "generate"))
    window_seconds: float = _field(positive_number, float)
    stride_seconds: float | None = _field(optional(positive_number), _float_or_none)
    frames_per_window: int = _field(int_at_least(1))
    input_mode: str = _field(choice("images", "video"))
    prompt: str = _field(text)
    context: str = _field(choice("none", "temporal", "autoregressive"))
    icl_per_class: int = _field(int_at_least(0))
    icl_required: bool = _field(boolean)
    batch_size: int = _field(int_at_least(1))
    max_new_tokens: int = _field(int_at_least(1))
    max_unparseable: float = _field(number_between(0, 1), float)  # fraction of a video's windows
    preprocessing: PreprocessingSettings = _section(PreprocessingSettings)
    openai: OpenAISettings = _section(OpenAISettings)
    motion: MotionSettings = _section(MotionSettings)
    hybrid: HybridSettings = _section(HybridSettings)


@dataclass(frozen=True)
class PostprocessSettings:
    """``postprocess``: temporal smoothing of a run's decisions, a derived run (:mod:`mousefear.pipeline.smoothing`)."""

    smoothing: str = _field(choice("none", "hmm"))
    stay_probability: float = _field(number_between(0, 1, low_open=True, high_open=True), float)
    min_bout_seconds: tuple[tuple[str, float], ...] = _field(  # behaviour -> shortest bout (s), in file order
        seconds_per_name, lambda v: tuple((str(k), float(x)) for k, x in v.items()))  # not listed: none

    @property
    def min_bouts(self) -> dict[str, float]:
        """``min_bout_seconds`` as a dict (behaviour -> seconds)."""
        return dict(self.min_bout_seconds)


@dataclass(frozen=True)
class EvaluationSettings:
    """``evaluation``: how predictions are compared with human labels."""

    bout_iou: float = _field(number_between(0, 1, low_open=True), float)
    by: tuple[str, ...] = _field(list_of("subject", "session"), tuple)


#: What a subject of ``nwb.subjects`` may give, with its check.
_SUBJECT_KEYS: dict[str, Check] = {
    "species": optional(text), "strain": optional(text), "sex": choice("M", "F", "U", "O"), "age": iso_duration,
    "genotype": optional(text), "description": optional(text),
}


@dataclass(frozen=True)
class NWBSettings:
    """``nwb``: what NWB files need and DANDI expects beyond what the project knows (:func:`mousefear.export_nwb`)."""

    experimenter: tuple[str, ...] | None = _field(optional(list_of_text), lambda v: None if v is None else tuple(v))
    institution: str | None = _field(optional(text))
    lab: str | None = _field(optional(text))
    experiment_description: str | None = _field(optional(text))
    keywords: tuple[str, ...] = _field(list_of_text, tuple)
    species: str | None = _field(optional(text))
    strain: str | None = _field(optional(text))
    sex: str = _field(choice("M", "F", "U", "O"))
    age: str | None = _field(optional(iso_duration))
    genotype: str | None = _field(optional(text))
    subjects: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = field(metadata={"parse": "_parse_nwb_subjects"})
    session_start_times: tuple[tuple[str, str], ...] = field(metadata={"parse": "_parse_start_times"})

    def subject(self, subject_id: str) -> dict[str, Any]:
        """The NWB ``Subject`` fields of one subject: these defaults, then the subject's own values."""
        out: dict[str, Any] = {"subject_id": subject_id, "species": self.species, "strain": self.strain,
                               "sex": self.sex, "age": self.age, "genotype": self.genotype}
        out.update(dict(dict(self.subjects).get(subject_id, ())))
        return out

    def start_time(self, video_id: str) -> _dt.datetime | None:
        """The session start time given for a video (timezone-aware), or None."""
        v = dict(self.session_start_times).get(video_id)
        return None if v is None else parse_time(v)


@dataclass(frozen=True)
class ClusterSettings:
    """``cluster``: the tasks of ``classify_videos(..., executor="slurm")`` (or ``"local"``); see docs/cluster.md."""

    partition: str | None = _field(optional(text))
    gpus_per_task: int = _field(int_at_least(0))
    cpus_per_task: int = _field(int_at_least(1))
    mem_gb: float | None = _field(optional(positive_number), _float_or_none)
    time_minutes: int = _field(int_at_least(1))
    array_parallelism: int = _field(int_at_least(1))
    videos_per_task: int = _field(int_at_least(1))
    resubmit: int = _field(int_at_least(0))
    max_wait_hours: float = _field(positive_number, float)
    sbatch_options: dict[str, Any] = _field(sbatch_options, dict)
    setup: tuple[str, ...] = _field(list_of_text, tuple)


@dataclass(frozen=True)
class Epoch:
    """One epoch of a session's protocol: ``[start, end)`` in seconds from the start of the video."""

    name: str
    start: float
    end: float
