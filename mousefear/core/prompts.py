"""Prompt templates, in-context (ICL) example choice, and backend-neutral chat messages.

A prompt template is a small YAML file (``templates/prompts/<name>.yaml``, or ``<project>/prompts/<name>.yaml``
which wins) with three texts: ``system`` (the briefing, with the behaviour definitions and the answer
instruction), ``definition_line`` (how one behaviour is listed) and ``question`` (the user text after the frames
of every window). See ``templates/prompts/default.yaml`` for the placeholders.

The conversation shown to a model is built here once, as a list of :class:`Turn` (role, text, frames), and
every backend turns it into its own format (the transformers backend into a Qwen chat template with images or
a video, a server backend into OpenAI messages with base64 images)::

    system     Prompt.system
    user       <frames of example 1> Prompt.question(...)       } one pair per in-context example,
    assistant  <label of example 1>                             } in behaviour order
    ...
    user       <frames of the window> Prompt.question(...)
    assistant  -> one behaviour name (scored, or generated and parsed with parse_answer)

Everything up to the last user turn is the same for every window of a run (the *shared prefix*), which lets a
backend compute it once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import string
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mousefear.errors import ConfigError

__all__ = [
    "Example",
    "Prompt",
    "PromptTemplate",
    "Turn",
    "available_prompts",
    "build_messages",
    "load_prompt_template",
    "parse_answer",
    "prompt_document",
    "query_turn",
    "render_prompt",
    "select_icl_examples",
    "text_hash",
]

logger = logging.getLogger(__name__)

_TEMPLATE_KEYS = ("system", "definition_line", "question")
_ALLOWED = {
    "system": {"definitions", "names"},
    "definition_line": {"name", "definition"},
    "question": {"names", "n_frames", "seconds"},
}


# --------------------------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt template as read from its YAML file.

    Attributes
    ----------
    name : str
        Template name (file stem).
    path : pathlib.Path
        File it was read from.
    system, definition_line, question : str
        The three texts, with their ``{placeholders}`` (see ``templates/prompts/default.yaml``).
    description : str
        One line saying what the template is for ("" if the file has none).
    """

    name: str
    path: Path
    system: str
    definition_line: str
    question: str
    description: str = ""


def _builtin_prompts_dir() -> Path:
    from mousefear.core.config import templates_dir

    return templates_dir() / "prompts"


def _search_dirs(project_root: str | os.PathLike | None) -> list[Path]:
    dirs = []
    if project_root is not None:
        dirs.append(Path(project_root) / "prompts")
    dirs.append(_builtin_prompts_dir())
    return dirs


def available_prompts(project_root: str | os.PathLike | None = None) -> list[str]:
    """Names of the prompt templates a project can use (its own ``prompts/`` and the built-in ones), sorted."""
    names: set[str] = set()
    for d in _search_dirs(project_root):
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def _placeholders(text: str, path: Path, key: str) -> set[str]:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise ConfigError(f"{path}: Expected {key} to be a text with {{placeholders}}, but got a broken one "
                          f"({exc}); write {{{{ and }}}} for literal braces") from None
    return {re.split(r"[.\[!:]", f, maxsplit=1)[0] for f in fields}


def load_prompt_template(name: str, project_root: str | os.PathLike | None = None) -> PromptTemplate:
    """Read prompt template ``name``: ``<project>/prompts/<name>.yaml`` if it exists, else the built-in one.

    Parameters
    ----------
    name
        Template name (``classification.prompt``), without ``.yaml``.
    project_root
        Project folder, whose ``prompts/`` folder is searched first (None: built-in templates only).

    Raises
    ------
    ConfigError
        No template of that name (the message lists those available), or the file is not a valid template
        (not YAML, a text missing or empty, an unknown placeholder); the message names the file.
    """
    from ruamel.yaml import YAML

    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
        raise ConfigError(f"Expected classification.prompt to be a template name, but got {name!r}")
    path = next((d / f"{name}.yaml" for d in _search_dirs(project_root) if (d / f"{name}.yaml").is_file()), None)
    if path is None:
        where = " or ".join(str(d) for d in _search_dirs(project_root))
        raise ConfigError(f"No prompt template {name!r} in {where}; available: "
                          f"{', '.join(available_prompts(project_root)) or 'none'}")
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except Exception as exc:  # ruamel raises many kinds of errors; report them as one
        raise ConfigError(f"{path}: not a readable YAML file ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: Expected a mapping with {', '.join(_TEMPLATE_KEYS)}, but got {data!r}")
    for key in _TEMPLATE_KEYS:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: Expected {key} to be a non-empty text, but got {value!r}")
        unknown = _placeholders(value, path, key) - _ALLOWED[key]
        if unknown:
            raise ConfigError(f"{path}: Expected the placeholders of {key} among "
                              f"{{{', '.join(sorted(_ALLOWED[key]))}}}, but got {{{', '.join(sorted(unknown))}}}")
    return PromptTemplate(name=name, path=path, system=data["system"], definition_line=data["definition_line"],
                          question=data["question"], description=str(data.get("description") or ""))


@dataclass(frozen=True)
class Prompt:
    """A template filled in with a project's behaviours: the texts every backend shows to the model.

    Attributes
    ----------
    template : str
        Name of the template it came from.
    behaviors : tuple of str
        Behaviour names, in config order (the order of every probability vector).
    system : str
        The rendered system text (briefing, definitions, answer instruction).
    question_template : str
        The user text asked after the frames of every window, with its placeholders (``{names}``,
        ``{n_frames}``, ``{seconds}``) still open.
    """

    template: str
    behaviors: tuple[str, ...]
    system: str
    question_template: str

    def question(self, n_frames: int, seconds: float) -> str:
        """The user text for a turn showing ``n_frames`` frames that span ``seconds`` seconds of video."""
        return self.question_template.format(names=", ".join(self.behaviors), n_frames=int(n_frames),
                                             seconds=float(seconds))


def render_prompt(template: PromptTemplate, behaviors: Sequence[tuple[str, str]]) -> Prompt:
    """Fill a template with the project's behaviours.

    Parameters
    ----------
    template
        As read by :func:`load_prompt_template`.
    behaviors
        ``(name, definition)`` pairs in config order.

    Raises
    ------
    ConfigError
        A text cannot be formatted (the message names the template file).
    """
    names = ", ".join(n for n, _ in behaviors)
    try:
        definitions = "\n".join(template.definition_line.format(name=n, definition=d) for n, d in behaviors)
        system = template.system.format(definitions=definitions, names=names)
        # fill {names} now and keep {n_frames} / {seconds} open for each turn
        prompt = Prompt(template=template.name, behaviors=tuple(n for n, _ in behaviors), system=system,
                        question_template=template.question)
        prompt.question(4, 1.0)  # check that it formats
    except (KeyError, ValueError, IndexError) as exc:
        raise ConfigError(f"{template.path}: cannot fill in the template ({exc.__class__.__name__}: {exc})") from None
    return prompt


# --------------------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One labelled in-context example: a window of frames and the behaviour a person gave it.

    Attributes
    ----------
    id : str
        Exemplar id (from the project's exemplar index).
    label : str
        Behaviour name (the assistant's answer in the prompt).
    frames : np.ndarray
        (k, height, width, 3) uint8 RGB frames, preprocessed like the windows.
    fps : float
        Frame rate of the source video.
    frame_indices : np.ndarray
        (k,) int64 positions of the frames in the source video.
    start_frame, end_frame : int
        The window ``[start_frame, end_frame)`` the frames were sampled from.
    video_id : str
        Source video.
    """

    id: str
    label: str
    frames: np.ndarray
    fps: float
    frame_indices: np.ndarray
    start_frame: int
    end_frame: int
    video_id: str = ""


@dataclass
class Turn:
    """One turn of the conversation, backend-neutral.

    Attributes
    ----------
    role : str
        ``"system"``, ``"user"`` or ``"assistant"``.
    text : str
        The text of the turn (after the frames, for a user turn with frames).
    frames : np.ndarray or None
        (k, height, width, 3) uint8 RGB frames shown before the text, in time order; None for text only.
    fps : float or None
        Frame rate of the video the frames come from.
    frame_indices : np.ndarray or None
        (k,) int64 positions of the frames relative to ``clip_start`` (for timing metadata).
    clip_frames : int or None
        Length in frames of the stretch the frames were sampled from (``end_frame - start_frame``).
    source : str
        What the frames are, for the prompt document (``"exemplar <id>"`` or ``"window"``).
    """

    role: str
    text: str
    frames: np.ndarray | None = None
    fps: float | None = None
    frame_indices: np.ndarray | None = None
    clip_frames: int | None = None
    source: str = ""

    @property
    def n_frames(self) -> int:
        """Number of frames shown (0 for a text-only turn)."""
        return 0 if self.frames is None else int(len(self.frames))


def _frames_turn(prompt: Prompt, frames: np.ndarray, fps: float, frame_indices: np.ndarray, start: int,
                 end: int, source: str) -> Turn:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"Expected frames of shape (k, height, width, 3) uint8 with k >= 1, but got "
                         f"{frames.dtype} {frames.shape} ({source})")
    rel = np.asarray(frame_indices, dtype=np.int64) - int(start)
    return Turn(role="user", text=prompt.question(len(frames), (end - start) / fps), frames=frames, fps=float(fps),
                frame_indices=rel, clip_frames=int(end - start), source=source)


def build_messages(prompt: Prompt, examples: Sequence[Example]) -> list[Turn]:
    """The shared prefix of every window's conversation: system turn, then one user/assistant pair per example.

    Parameters
    ----------
    prompt
        The rendered prompt.
    examples
        In-context examples, in the order they are shown.

    Returns
    -------
    list of Turn
        ``1 + 2 * len(examples)`` turns; append :func:`query_turn` for a window.
    """
    turns = [Turn(role="system", text=prompt.system)]
    for ex in examples:
        if ex.label not in prompt.behaviors:
            raise ValueError(f"Expected the label of exemplar {ex.id} among {list(prompt.behaviors)}, "
                             f"but got {ex.label!r}")
        turns.append(_frames_turn(prompt, ex.frames, ex.fps, ex.frame_indices, ex.start_frame, ex.end_frame,
                                  f"exemplar {ex.id}"))
        turns.append(Turn(role="assistant", text=ex.label, source=f"exemplar {ex.id}"))
    return turns


def query_turn(prompt: Prompt, window: Any) -> Turn:
    """The user turn asking about one :class:`~mousefear.video.Window` (its frames and the question)."""
    return _frames_turn(prompt, window.frames, window.fps, window.frame_indices, window.start_frame,
                        window.end_frame, "window")


def prompt_document(prompt: Prompt, examples: Sequence[Example], n_frames: int = 4, seconds: float = 1.0) -> str:
    """The whole conversation as readable text (frames as ``<k frames: ...>``), stored with a run.

    Its SHA-256 (:func:`text_hash`) is the ``prompt_hash`` of every output: it changes with the template, the
    behaviour definitions and the in-context examples (ids, labels, frame positions).
    """
    lines = []
    for t in build_messages(prompt, examples):
        head = f"[{t.role}]"
        if t.frames is not None:
            head += (f" <{t.n_frames} frames of {t.source}: offsets {t.frame_indices.tolist()} in "
                     f"{t.clip_frames} frames at {t.fps:g} fps>")
        lines.append(head)
        lines.append(t.text)
    lines.append(f"[user] <{n_frames} frames of the window>")
    lines.append(prompt.question(n_frames, seconds))
    lines.append("[assistant]")
    lines.append(f"<one of: {', '.join(prompt.behaviors)}>")
    ids = "".join(f"\n  {ex.id}: {ex.label}, video {ex.video_id}, frames [{ex.start_frame}, {ex.end_frame}), "
                  f"sampled {np.asarray(ex.frame_indices).tolist()}" for ex in examples)
    lines.append(f"\n# template: {prompt.template}\n# in-context examples:{ids or ' none'}")
    return "\n".join(lines) + "\n"


def text_hash(text: str) -> str:
    """Hex SHA-256 of a text (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------------------

_STRIP = string.whitespace + string.punctuation + "\u201c\u201d\u2018\u2019"


def parse_answer(text: str, behaviors: Sequence[str]) -> int | None:
    """Index of the behaviour a generated answer names, or None when it names none exactly.

    Strict: after removing surrounding whitespace and punctuation (``" Freezing.\\n"``, ``'"rearing"'``) the
    answer must equal one behaviour name, case-insensitively. Anything else (``"freezing, exploring"``,
    ``"The mouse is rearing"``, ``""``) is unparseable and never guessed.
    """
    answer = text.strip(_STRIP).casefold()
    for i, name in enumerate(behaviors):
        if answer == name.strip(_STRIP).casefold():
            return i
    return None


# --------------------------------------------------------------------------------------------------------
# In-context example choice
# --------------------------------------------------------------------------------------------------------


def select_icl_examples(candidates: Any, behaviors: Sequence[str], per_class: int,
                        seed: int) -> tuple[list[str], dict[str, int]]:
    """Choose ``per_class`` labelled exemplars per behaviour, reproducibly.

    For each behaviour the candidate ids with that label are sorted and ``min(per_class, n)`` are drawn without
    replacement with ``numpy.random.default_rng([seed, crc32(behaviour name)])``: the choice for one behaviour
    depends only on the seed and on that behaviour's candidates (adding a labelled exemplar of another behaviour
    changes nothing here).

    Parameters
    ----------
    candidates
        A table with columns ``id`` and ``label`` (e.g. :func:`mousefear.exemplars.labelled_exemplars`); rows
        without a label (empty or NaN) or with a label not in ``behaviors`` are ignored.
    behaviors
        Behaviour names in config order; the examples are returned in this order.
    per_class
        Examples wanted per behaviour (0 = none).
    seed
        ``seed`` of config.yaml.

    Returns
    -------
    ids : list of str
        Chosen exemplar ids: behaviour by behaviour in config order, sorted within a behaviour.
    shortfall : dict
        ``{behaviour: examples missing}`` for every behaviour with fewer than ``per_class`` candidates.
    """
    ids: list[str] = []
    shortfall: dict[str, int] = {}
    if per_class <= 0:
        return ids, shortfall
    table_ids = [str(i) for i in candidates["id"]]
    labels = ["" if not isinstance(x, str) else x for x in candidates["label"]]
    for name in behaviors:
        pool = sorted({i for i, lab in zip(table_ids, labels, strict=True) if lab == name})
        k = min(per_class, len(pool))
        if k < per_class:
            shortfall[name] = per_class - k
        if k == 0:
            continue
        rng = np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])
        chosen = rng.choice(len(pool), size=k, replace=False)
        ids.extend(pool[j] for j in sorted(chosen.tolist()))
    return ids, shortfall
