"""A project opened once: its folder, its validated settings, its videos and runs.

A project is one folder per experiment::

    {project}-{experimenter}-{YYYY-MM-DD}/
      config.yaml  videos/  exemplars/  labels/  behavior-vectors/<run>/  evaluation/<run>/  cache/<run>/

Every public function of mousefear takes the path of config.yaml first and opens the project with
:meth:`Project.open`, which reads config.yaml once and validates it into :class:`~mousefear.core.settings.Settings`;
the :class:`Project` is then passed down. Every path stored in config.yaml is relative to the project folder,
so a project can be moved or shared. Which run a command works on when the user names none is decided here,
by :meth:`Project.select_run`, and nowhere else.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from mousefear.core import config as _config
from mousefear.core.names import NAME_RE, check_file_name, check_name
from mousefear.core.settings import Settings
from mousefear.core.video import Video
from mousefear.errors import ProjectError, VectorFileError

__all__ = ["ConfigLike", "Project", "ProjectPaths", "check_name"]

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class ProjectPaths:
    """Absolute paths inside a project; the functions that fill a folder make it.

    Every path built from a name (a run, a video id, an exemplar id) checks the name first
    (:mod:`mousefear.core.names`): no path made here leaves the project folder.
    """

    root: Path

    @property
    def config(self) -> Path:
        return self.root / _config.CONFIG_NAME

    @property
    def videos(self) -> Path:
        return self.root / "videos"

    @property
    def exemplars(self) -> Path:
        return self.root / "exemplars"

    @property
    def exemplar_index(self) -> Path:
        return self.exemplars / "index.csv"

    @property
    def labels(self) -> Path:
        return self.root / "labels"

    @property
    def prompts(self) -> Path:
        return self.root / "prompts"

    @property
    def vectors_base(self) -> Path:
        return self.root / "behavior-vectors"

    def vectors(self, run: str) -> Path:
        return self.vectors_base / check_name(run, "a run name")

    def vector_file(self, run: str, video_id: str) -> Path:
        return self.vectors(run) / f"{check_file_name(video_id, 'a video id')}.h5"

    def seconds_table(self, run: str, video_id: str) -> Path:
        """One video's per-window table: ``behavior-vectors/<run>/<video_id>_seconds.csv``."""
        return self.vectors_base / run / f"{video_id}_seconds.csv"

    def window_table(self, run: str) -> Path:
        """The run's per-window table of every video: ``behavior-vectors/<run>/windows.csv``."""
        return self.vectors_base / run / "windows.csv"

    def nwb_file(self, run: str, video_id: str) -> Path:
        """One video's NWB file: ``behavior-vectors/<run>/nwb/<video_id>.nwb``."""
        return self.vectors_base / run / "nwb" / f"{video_id}.nwb"

    def labeled_video(self, run: str, video_id: str) -> Path:
        """One video with its labels drawn on: ``evaluation/<run>/videos/<video_id>_labeled.mp4``."""
        return self.root / "evaluation" / run / "videos" / f"{video_id}_labeled.mp4"

    def evaluation(self, run: str | None = None) -> Path:
        return self.root / "evaluation" / check_name(run, "a run name") if run else self.root / "evaluation"

    def cache(self, run: str) -> Path:
        return self.root / "cache" / check_name(run, "a run name")

    def video_cache(self, run: str, video_id: str) -> Path:
        return self.cache(run) / check_file_name(video_id, "a video id")

    def run_lock(self, run: str) -> Path:
        """``cache/<run>.lock``: held for a moment while a process writes the run's own files (run.json, the
        summary)."""
        return self.root / "cache" / f"{check_name(run, 'a run name')}.lock"

    def tasks(self, run: str) -> Path:
        """``cache/_tasks/<run>/``: who works on which video of a run (locks, last errors, submitted tasks and
        their logs). A run name never starts with ``_``, so this folder is never a run's cache."""
        return self.root / "cache" / "_tasks" / check_name(run, "a run name")

    def video_lock(self, run: str, video_id: str) -> Path:
        """``cache/_tasks/<run>/<video_id>.lock``: held while a process classifies that video of the run."""
        return self.tasks(run) / f"{check_file_name(video_id, 'a video id')}.lock"

    def video_error(self, run: str, video_id: str) -> Path:
        """``cache/_tasks/<run>/<video_id>.error.json``: the last error that stopped that video (removed when it is
        finished)."""
        return self.tasks(run) / f"{check_file_name(video_id, 'a video id')}.error.json"

    def label_file(self, video_id: str) -> Path:
        return self.labels / f"{check_file_name(video_id, 'a video id')}.csv"

    def exemplar(self, exemplar_id: str) -> Path:
        return self.exemplars / check_file_name(exemplar_id, "an exemplar id")


class Project:
    """An opened project. Make one with :meth:`Project.open`.

    Attributes
    ----------
    root : Path
        The project folder (absolute).
    config_path : Path
        Its config.yaml.
    settings : Settings
        Every setting, validated.
    paths : ProjectPaths
        Where things are.
    """

    def __init__(self, config_path: Path, document: CommentedMap, settings: Settings):
        self.config_path = config_path
        self.root = config_path.resolve().parent
        self.paths = ProjectPaths(self.root)
        self._document = document
        self.settings = settings
        self._detached = False

    @classmethod
    def open(cls, config: str | os.PathLike | Project) -> Project:
        """Read and validate config.yaml once (a :class:`Project` given is returned as it is).

        Parameters
        ----------
        config
            Path of config.yaml or of the project folder.

        Raises
        ------
        ConfigError
            The file is missing or unreadable, or a value is wrong (the message names the file and key).
        """
        if isinstance(config, Project):
            return config
        path, doc = _config.read_document(config)
        return cls(path, doc, Settings.from_mapping(doc, path))

    def __repr__(self) -> str:
        return f"Project({str(self.config_path)!r})"

    # ---------------------------------------------------------------- settings
    @property
    def behaviors(self) -> list[str]:
        """Behaviour names in config order."""
        return self.settings.behavior_names

    def with_settings(self, settings: Settings) -> Project:
        """The same project with other settings, in memory only (to work out what a run with them would be);
        :meth:`save` on it is refused."""
        other = Project(self.config_path, self._document, settings)
        other._detached = True
        return other

    def document(self) -> CommentedMap:
        """A copy of config.yaml as read (comments kept), for :meth:`save`."""
        return copy.deepcopy(self._document)

    def save(self, document: CommentedMap) -> None:
        """Validate ``document`` and write it to config.yaml atomically; the project then reflects it.

        Raises
        ------
        ConfigError
            A value is wrong; config.yaml is left as it was.
        """
        if self._detached:
            raise ProjectError(f"{self.config_path}: a project with settings changed in memory (with_settings) "
                               "cannot be saved")
        settings = Settings.from_mapping(document, self.config_path)
        _config.write_document(self.config_path, document)
        self._document, self.settings = document, settings

    @contextlib.contextmanager
    def edit(self) -> Iterator[CommentedMap]:
        """Change config.yaml: ``with project.edit() as doc: doc["seed"] = 7``; saved (validated) at the end of
        the block, not at all if the block raises."""
        doc = self.document()
        yield doc
        self.save(doc)

    # ---------------------------------------------------------------- videos
    @property
    def videos(self) -> tuple[Video, ...]:
        """Registered videos, in registry order."""
        return self.settings.videos

    def select_videos(self, videos: Iterable[str | os.PathLike] | str | os.PathLike | None = None) -> list[Video]:
        """Registered videos, all (``None``) or those named by id, registry key or file path, in the order asked.

        Raises
        ------
        ProjectError
            A name matches no registered video (the message lists the registered ones).
        """
        if videos is None:
            return list(self.videos)
        if isinstance(videos, str | os.PathLike):
            videos = [videos]
        chosen: list[Video] = []
        for want in videos:
            v = self.video(want)
            if v not in chosen:
                chosen.append(v)
        return chosen

    def video(self, name: str | os.PathLike) -> Video:
        """The registered video named by id, registry key or file path.

        Raises
        ------
        ProjectError
            No registered video has that name.
        """
        want = str(name)
        for v in self.videos:
            if want in (v.id, v.key) or Path(want).stem == v.id:
                return v
        known = ", ".join(v.id for v in self.videos) or "none"
        raise ProjectError(f"{self.config_path}: no registered video {want!r} (registered: {known})")

    # ---------------------------------------------------------------- runs
    def vector_files(self, run: str) -> dict[str, Path]:
        """Behaviour-vector files of a run, by video id: the registered videos whose ``<video_id>.h5`` exists
        (found by name, so stray or temporary files in the folder are never taken for results)."""
        folder = self.paths.vectors(run)
        return {v.id: folder / f"{v.id}.h5" for v in self.videos if (folder / f"{v.id}.h5").is_file()}

    def runs(self) -> list[str]:
        """Names of the runs with behaviour vectors of registered videos, sorted by name."""
        base = self.paths.vectors_base
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir()
                      if p.is_dir() and NAME_RE.match(p.name) and self.vector_files(p.name))

    def runs_newest_first(self) -> dict[str, list[str]]:
        """Runs -> ids of the registered videos they have vectors of, the run written last first (by the
        modification time of its newest vector file; ties go to the later name)."""
        items = []
        for run in self.runs():
            files = self.vector_files(run)
            newest = max(p.stat().st_mtime for p in files.values())
            items.append((newest, run, list(files)))
        items.sort(key=lambda r: (r[0], r[1]), reverse=True)  # ties: the later name first
        return {run: vids for _, run, vids in items}

    def select_run(self, run: str | None = None) -> str:
        """The run a command works on: the one rule of every command.

        ``run`` given: that run (it must have behaviour-vector files). ``run=None``: ``classification.run`` when
        set (an error if that run has no vector files); otherwise the only run of the project; otherwise the run
        whose vector files were written last (logged; ties go to the later name).

        Raises
        ------
        ProjectError
            ``run`` (or ``classification.run``) is not a run of the project; the message lists the runs.
        VectorFileError
            The project has no run with behaviour-vector files, or the named run's folder has none.
        """
        base = self.paths.vectors_base
        runs = self.runs()
        if run is not None:
            check_name(run, "a run name")
            if run in runs:
                return run
            if (base / run).is_dir():
                raise VectorFileError(f"{base / run}: run {run!r} has no behaviour-vector files of registered "
                                      "videos (<video_id>.h5); classify the videos first (mousefear.classify_videos)")
            raise ProjectError(f"Expected a run among {runs or 'none'} (folders of {base}), but got {run!r}")
        if not runs:
            raise VectorFileError(f"{base}: no run with behaviour-vector files in this project; classify the videos "
                                  "first (mousefear.classify_videos)")
        configured = self.settings.classification.run
        if configured:
            if configured not in runs:
                raise ProjectError(f"{self.config_path}: classification.run is {configured!r}, which has no "
                                   f"behaviour vectors; available runs: {runs}. Pass run= to choose one.")
            return configured
        if len(runs) == 1:
            return runs[0]
        newest = next(iter(self.runs_newest_first()))
        logger.info("Several runs (%s) and classification.run is null: using the newest, %s", ", ".join(runs),
                    newest)
        return newest


#: What every public function takes first: the path of config.yaml (or of the project folder), or a
#: :class:`Project` already opened (how the pipeline passes it on without reading config.yaml again).
ConfigLike = str | os.PathLike | Project
