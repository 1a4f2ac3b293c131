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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mousefear.errors import ConfigError

__all__ = [
    "CONTEXT_KEYS",
    "CONTEXT_MODES",
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
    "query_turns",
    "render_prompt",
    "select_icl_examples",
    "text_hash",
]

logger = logging.getLogger(__name__)

_TEMPLATE_KEYS = ("system", "definition_line", "question")
#: Texts of the context modes (``classification.context``); a template without them takes the built-in default's.
CONTEXT_KEYS = ("previous_frames", "next_frames", "previous_question", "no_previous", "no_next", "context_question")
_FRAMES = {"names", "n_frames", "seconds"}
_ALLOWED = {
    "system": {"definitions", "names"},
    "definition_line": {"name", "definition"},
    "question": _FRAMES,
    **{k: _FRAMES for k in ("previous_frames", "next_frames", "previous_question", "context_question")},
    "no_previous": {"names"},
    "no_next": {"names"},
}
#: The context modes (``classification.context``).
CONTEXT_MODES = ("none", "temporal", "autoregressive")


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
    context : dict of str to str
        The texts of the context modes (:data:`CONTEXT_KEYS`), from the file or, where it has none, from the
        built-in ``default`` template.
    """

    name: str
    path: Path
    system: str
    definition_line: str
    question: str
    description: str = ""
    context: Mapping[str, str] = field(default_factory=dict)


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
    for key in (*_TEMPLATE_KEYS, *(k for k in CONTEXT_KEYS if k in data)):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: Expected {key} to be a non-empty text, but got {value!r}")
        unknown = _placeholders(value, path, key) - _ALLOWED[key]
        if unknown:
            raise ConfigError(f"{path}: Expected the placeholders of {key} among "
                              f"{{{', '.join(sorted(_ALLOWED[key]))}}}, but got {{{', '.join(sorted(unknown))}}}")
    context = {k: data[k] for k in CONTEXT_KEYS if k in data}
    if len(context) < len(CONTEXT_KEYS):
        default_path = _builtin_prompts_dir() / "default.yaml"
        if path == default_path:
            raise ConfigError(f"{path}: Expected the texts {', '.join(CONTEXT_KEYS)}, but "
                              f"{', '.join(k for k in CONTEXT_KEYS if k not in data)} are missing")
        context = {**load_prompt_template("default").context, **context}  # the built-in default's texts
    return PromptTemplate(name=name, path=path, system=data["system"], definition_line=data["definition_line"],
                          question=data["question"], description=str(data.get("description") or ""),
                          context=context)


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
    context_templates : dict of str to str
        The texts of the context modes (:data:`CONTEXT_KEYS`), placeholders open.
    """

    template: str
    behaviors: tuple[str, ...]
    system: str
    question_template: str
    context_templates: Mapping[str, str] = field(default_factory=dict)

    def question(self, n_frames: int, seconds: float, key: str = "question") -> str:
        """The user text for a turn showing ``n_frames`` frames that span ``seconds`` seconds of video: the
        question, or the context text ``key`` (one of :data:`CONTEXT_KEYS`)."""
        text = self.question_template if key == "question" else self.context_templates[key]
        return text.format(names=", ".join(self.behaviors), n_frames=int(n_frames), seconds=float(seconds))


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
                        question_template=template.question, context_templates=dict(template.context))
        for key in ("question", *prompt.context_templates):
            prompt.question(4, 1.0, key)  # check that it formats
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
                 end: int, source: str, key: str = "question", hint: str = "") -> Turn:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"Expected frames of shape (k, height, width, 3) uint8 with k >= 1, but got "
                         f"{frames.dtype} {frames.shape} ({source})")
    rel = np.asarray(frame_indices, dtype=np.int64) - int(start)
    text = prompt.question(len(frames), (end - start) / fps, key)
    return Turn(role="user", text=f"{hint}\n{text}" if hint else text, frames=frames, fps=float(fps),
                frame_indices=rel, clip_frames=int(end - start), source=source)


def _window_turn(prompt: Prompt, window: Any, source: str, key: str, hint: str = "") -> Turn:
    return _frames_turn(prompt, window.frames, window.fps, window.frame_indices, window.start_frame,
                        window.end_frame, source, key, hint)


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
    """The user turn asking about one :class:`~mousefear.video.Window` (its frames and the question), without
    its context (see :func:`query_turns`)."""
    return _window_turn(prompt, window, "window", "question")


def query_turns(prompt: Prompt, window: Any) -> list[Turn]:
    """The turns after the shared prefix that ask about one :class:`~mousefear.video.Window`, with its context.

    ==============  ===============================================================================================
    context mode    turns
    ==============  ===============================================================================================
    none            user: <window frames> ``question``
    temporal        user: <previous window's frames> ``previous_frames`` (first window: ``no_previous``, text only)
                    user: <next window's frames> ``next_frames`` (last window: ``no_next``, text only)
                    user: <window frames> ``context_question``
    autoregressive  user: <previous window's frames> ``previous_question`` (first window: ``no_previous``)
                    assistant: the behaviour decided for the previous window (none decided: the previous
                    window's turn is ``previous_frames``, unlabelled, as in temporal)
                    then the next window and the window as in temporal
    ==============  ===============================================================================================

    A hint of the context (the hybrid's movement measure) comes first in the window's own turn.

    Returns
    -------
    list of Turn
        ``[query_turn(prompt, window)]`` for a window without context.
    """
    ctx = window.context
    hint = ctx.hint if ctx is not None else ""
    if ctx is None or ctx.mode == "none":
        return [_window_turn(prompt, window, "window", "question", hint)]
    if ctx.mode not in CONTEXT_MODES:
        raise ValueError(f"Expected a context mode among {', '.join(CONTEXT_MODES)}, but got {ctx.mode!r}")
    turns = []
    if ctx.previous is None:
        turns.append(Turn(role="user", text=prompt.question(0, 0.0, "no_previous"), source="no previous window"))
    elif ctx.mode == "autoregressive" and ctx.previous_label is not None:
        turns.append(_window_turn(prompt, ctx.previous, "the previous window", "previous_question"))
        turns.append(Turn(role="assistant", text=ctx.previous_label, source="the previous window"))
    else:
        turns.append(_window_turn(prompt, ctx.previous, "the previous window", "previous_frames"))
    if ctx.next is None:
        turns.append(Turn(role="user", text=prompt.question(0, 0.0, "no_next"), source="no next window"))
    else:
        turns.append(_window_turn(prompt, ctx.next, "the next window", "next_frames"))
    turns.append(_window_turn(prompt, window, "the window to classify", "context_question", hint))
    return turns


def _document_turns(prompt: Prompt, n_frames: int, seconds: float, context: str) -> list[Turn]:
    """The turns of an example request for a window in the middle of a video (for :func:`prompt_document`)."""
    from mousefear.core.video import Window, WindowContext

    fps = max(n_frames, 1) / seconds

    def window(index: int) -> Window:
        return Window("video", index, index * n_frames, (index + 1) * n_frames,
                      np.arange(index * n_frames, (index + 1) * n_frames), np.zeros((n_frames, 1, 1, 3), np.uint8),
                      fps)

    label = "<the behaviour decided for the previous window>" if context == "autoregressive" else None
    return query_turns(prompt, replace(window(5), context=WindowContext(context, window(4), window(6), label)))


def prompt_document(prompt: Prompt, examples: Sequence[Example], n_frames: int = 4, seconds: float = 1.0,
                    context: str = "none") -> str:
    """The whole conversation as readable text (frames as ``<k frames: ...>``), stored with a run.

    Its SHA-256 (:func:`text_hash`) is the ``prompt_hash`` of every output: it changes with the template, the
    behaviour definitions, the in-context examples (ids, labels, frame positions) and the context mode. With a
    context mode it shows one complete request for a window in the middle of a video, and says what the first
    and the last window of a video are shown instead of their missing neighbours.
    """
    lines = []
    for t in build_messages(prompt, examples):
        head = f"[{t.role}]"
        if t.frames is not None:
            head += (f" <{t.n_frames} frames of {t.source}: offsets {t.frame_indices.tolist()} in "
                     f"{t.clip_frames} frames at {t.fps:g} fps>")
        lines.append(head)
        lines.append(t.text)
    if context == "none":
        lines.append(f"[user] <{n_frames} frames of the window>")
        lines.append(prompt.question(n_frames, seconds))
    else:
        for t in _document_turns(prompt, n_frames, seconds, context):
            lines.append(f"[{t.role}]" + (f" <{t.n_frames} frames of {t.source}>" if t.frames is not None else ""))
            lines.append(t.text)
    lines.append("[assistant]")
    lines.append(f"<one of: {', '.join(prompt.behaviors)}>")
    if context != "none":
        lines.append(f"\n# context: {context} (the request of a window in the middle of a video)\n"
                     f"# the first window of a video: instead of the previous window, [user] "
                     f"{prompt.question(0, 0.0, 'no_previous')}\n"
                     f"# the last window of a video: instead of the next window, [user] "
                     f"{prompt.question(0, 0.0, 'no_next')}")
        if context == "autoregressive":
            lines.append("# the windows of a video are classified in order; a previous window whose answer named "
                         "no behaviour is shown unlabelled, as the next one")
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
