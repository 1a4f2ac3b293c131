"""Tasks on a cluster: calls submitted through submitit (SLURM job arrays, or processes on this machine), watched
until they end, failed ones submitted again.

:func:`run_tasks` knows nothing of classifying: it is given groups of video ids and, for each, a picklable call
(:class:`TaskCall`) that does the work and keeps its results in the project folder, which is the only state
shared with the tasks. ``executor="slurm"`` submits all calls of a round as one job array (``--array=0-N%P``,
P = ``cluster.array_parallelism``) with the resources of the ``cluster`` section; ``executor="local"`` starts
one process per call on this machine (at most P at once), through submitit's local executor, so every line of
this module is exercised without a cluster.

Watching jobs without an end is never allowed here:

- **States without accounting.** submitit asks ``sacct`` for job states; on a cluster without an accounting
  database sacct fails, submitit keeps the state UNKNOWN, and a task that died without writing its result
  would be waited for for ever. :func:`_watcher` is submitit's SLURM watcher told by ``squeue`` whatever sacct
  cannot tell (the first failing sacct call switches to squeue for good, logged once); a job that squeue no
  longer lists, twice in a row, has ended. One squeue call per poll covers every task of the run.
- **A task that ended without a result failed.** Once a task's job has ended (COMPLETED, FAILED, CANCELLED,
  TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, PREEMPTED, gone from the queue, or a local process that exited), its
  result file is waited for a few seconds (10 after COMPLETED, 2 otherwise: shared file systems are slow to
  show new files), then the task counts as failed with the last telling line of its log.
- **Failures are resubmitted, a bounded number of times.** A failed task's videos that are not finished are
  submitted again, up to ``cluster.resubmit`` times, and resume from the cache. A task that stopped on bad input
  (its call returned an error marked not worth retrying) is not. A task whose time runs out is first requeued
  by submitit itself in the same job (the call is checkpointable: it resumes from the cache), up to
  ``cluster.resubmit`` times as well.
- **The whole wait has a limit** (``cluster.max_wait_hours``); when it runs out the call stops with a message
  and the tasks keep running.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import re
import shlex
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from mousefear._io import pid_alive
from mousefear.core.sections import ClusterSettings
from mousefear.errors import ProjectError, TaskError
from mousefear.pipeline.slurm import ACTIVE_STATES, squeue_states

__all__ = ["EXECUTORS", "TaskCall", "TasksResult", "run_tasks", "task_state"]

logger = logging.getLogger(__name__)

#: Where a run's calls go: this process, processes on this machine, SLURM.
EXECUTORS = ("inline", "local", "slurm")
#: Seconds to wait for the result file of a task whose SLURM job has ended well (COMPLETED; a shared file system
#: may show a new file late), and of one that ended otherwise (its result, if any, is an error's traceback).
RESULT_GRACE_SECONDS = (10.0, 2.0)
#: Most tasks in one job array (SLURM's MaxArraySize is 1001 by default): more go in further arrays.
MAX_ARRAY = 1000
#: First and longest pause between two looks at the tasks, seconds (each pause is 1.5 times the one before).
FIRST_POLL_SECONDS = 0.25
MAX_POLL_SECONDS = 30.0


class TaskCall:
    """What one task runs: ``function(**kwargs)``.

    It is pickled by submitit and unpickled on the node (``function`` must be importable there, ``kwargs``
    picklable). It is checkpointable: when SLURM signals that the task's time is running out or that it is
    pre-empted, submitit requeues the same call, which resumes from what the project folder holds.
    """

    def __init__(self, function: Callable[..., Any], **kwargs: Any):
        self.function = function
        self.kwargs = kwargs

    def __call__(self) -> Any:
        return self.function(**self.kwargs)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self)


@dataclass
class TasksResult:
    """What :func:`run_tasks` saw.

    Attributes
    ----------
    outcomes : list of dict
        The value returned by every call that ended well, with ``submitted_at`` (seconds since the epoch) and
        ``attempt`` added.
    failed : dict
        Video id -> why its last task failed, for the videos given up on.
    tasks : list of dict
        Every task submitted: ``task`` (its id), ``videos``, ``attempt``, ``state`` (last known).
    seconds : float
        From the first submission to the end of the wait.
    """

    outcomes: list[dict[str, Any]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class _Task:
    videos: list[str]
    attempt: int
    call: TaskCall
    job: Any = None
    submitted: float = 0.0  # time.time()
    ended_seen: float | None = None  # time.monotonic() when its job was first seen ended
    state: str = "QUEUED"
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.job.job_id) if self.job is not None else "(not submitted)"


# ------------------------------------------------------------------------------------------------ submitit side
def _submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise ProjectError("Classifying with executor 'slurm' or 'local' needs the submitit package: "
                           "pip install 'mousefear[cluster]'") from None
    return submitit


def _watcher() -> Any:
    """A submitit SLURM watcher that asks squeue what sacct cannot tell (see the module docstring)."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    class SqueueWatcher(SlurmInfoWatcher):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__(delay_s=int(MAX_POLL_SECONDS))
            self.use_sacct = shutil.which("sacct") is not None
            self.missing: dict[str, int] = {}

        def _sacct(self, ids: set[str]) -> dict[str, dict[str, str]]:
            import subprocess

            cmd = ["sacct", "-o", "JobID,State,NodeList", "--parsable2"] + [a for j in sorted(ids) for a in ("-j", j)]
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
                if out.returncode == 0:
                    return self.read_info(out.stdout)
                why = out.stderr.strip() or f"exit status {out.returncode}"
            except (OSError, subprocess.TimeoutExpired) as exc:
                why = str(exc)
            logger.info("sacct cannot tell the state of jobs here (%s); following the tasks with squeue", why)
            self.use_sacct = False
            return {}

        def update(self) -> None:
            waiting = self._registered - self._finished
            if not waiting:
                return
            self._num_calls += 1
            info = self._sacct({j.split("_")[0] for j in waiting}) if self.use_sacct else {}
            self._info_dict.update(info)
            unknown = [j for j in waiting if not self._info_dict.get(j, {}).get("State")
                       or not self.use_sacct]
            if unknown:
                states = squeue_states(j.split("_")[0] for j in unknown)
                if states is not None:
                    for job in unknown:
                        if job in states:
                            self.missing.pop(job, None)
                            s = states[job]
                            self._info_dict[job] = {"JobID": job, "State": s["state"], "NodeList": s["node"]}
                        else:  # not in the queue any more: it has ended (seen twice, to be sure)
                            self.missing[job] = self.missing.get(job, 0) + 1
                            if self.missing[job] >= 2:
                                self._info_dict[job] = {"JobID": job, "State": "ENDED (no longer known to SLURM)"}
            self._last_status_check = time.time()
            for job in waiting:
                if self.is_done(job, mode="cache"):
                    self._finished.add(job)

    return SqueueWatcher()


def _source_path_setup() -> list[str]:
    """A shell line that lets a task import this very mousefear when it runs from a source folder (not
    installed); nothing for an installed mousefear."""
    root = Path(__file__).resolve().parents[2]  # the folder that holds the mousefear package
    if any(part in ("site-packages", "dist-packages") for part in root.parts):
        return []
    return [f"export PYTHONPATH={shlex.quote(str(root))}${{PYTHONPATH:+:$PYTHONPATH}}"]


@contextlib.contextmanager
def _clean_env() -> Iterator[None]:
    """Hide the variables that a SLURM job (or a submitit task) sets for its own processes while submitting:
    a task submitted from inside a job must not inherit its allocation. ``SLURM_CONF`` (which cluster) stays,
    and so do ``SBATCH_*`` options a user set on purpose."""
    own = ("SLURM_", "SLURMD_", "SRUN_", "SUBMITIT_")
    hidden = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(own) and k != "SLURM_CONF"}
    try:
        yield
    finally:
        os.environ.update(hidden)


class _Runner:
    """Submits calls with submitit and tells their state."""

    def __init__(self, kind: str, folder: Path, cluster: ClusterSettings, name: str):
        submitit = _submitit()
        self.kind = kind
        self.cluster = cluster
        setup = [*_source_path_setup(), *cluster.setup]
        if kind == "slurm":
            missing = [b for b in ("sbatch", "srun", "squeue") if shutil.which(b) is None]
            if missing:
                raise ProjectError(f"executor 'slurm': {', '.join(missing)} not found on this host "
                                   f"({socket.gethostname()}); run the command on a machine of the cluster (a login "
                                   "node), or use executor 'local'")
            self.ex = submitit.SlurmExecutor(folder, max_num_timeout=cluster.resubmit)
            params: dict[str, Any] = {"job_name": f"mousefear-{name}"[:64], "time": cluster.time_minutes,
                                      "cpus_per_task": cluster.cpus_per_task, "nodes": 1, "ntasks_per_node": 1,
                                      "array_parallelism": cluster.array_parallelism, "wckey": None,
                                      "setup": setup, "additional_parameters": dict(cluster.sbatch_options)}
            if cluster.partition:
                params["partition"] = cluster.partition
            if cluster.mem_gb:
                params["mem"] = f"{int(round(cluster.mem_gb * 1024))}M"
            if cluster.gpus_per_task and "gres" not in cluster.sbatch_options:
                params["gres"] = f"gpu:{cluster.gpus_per_task}"
            self.ex.update_parameters(**params)
            self.watcher = _watcher()
        else:
            self.ex = submitit.LocalExecutor(folder, max_num_timeout=cluster.resubmit)
            self.ex.update_parameters(timeout_min=cluster.time_minutes, gpus_per_node=cluster.gpus_per_task,
                                      setup=setup)
            self.watcher = None

    def label(self, task: _Task) -> str:
        return f"{'SLURM job' if self.kind == 'slurm' else 'local task'} {task.id}"

    def submit(self, tasks: Sequence[_Task]) -> None:
        with _clean_env():  # a call made inside a SLURM job must not hand its job's settings on
            try:
                jobs = self.ex.submit_array([t.call for t in tasks])
            except Exception as exc:  # sbatch refused (a wrong partition or option), or could not run
                reason = str(exc).strip().splitlines()
                raise TaskError(f"Submitting {len(tasks)} task(s) with executor {self.kind!r} failed: "
                                f"{reason[-1] if reason else type(exc).__name__}. Check the cluster section of "
                                "config.yaml (partition, sbatch_options) and the logs in "
                                f"{self.ex.folder}") from None
        now = time.time()
        for task, job in zip(tasks, jobs, strict=True):
            task.job, task.submitted, task.state = job, now, "PENDING"
            if self.watcher is not None:
                self.watcher.register_job(str(job.job_id))

    def update(self) -> None:
        if self.watcher is not None:
            self.watcher.update()

    def state(self, task: _Task) -> tuple[str, bool]:
        """(state, whether the task's job has ended)."""
        if self.watcher is None:
            info = task.job.get_info()
            state = str(info.get("jobState", "UNKNOWN"))
            return state, state != "RUNNING"
        state = self.watcher.get_state(str(task.job.job_id), mode="cache")
        return state, state.split()[0] not in ACTIVE_STATES | {"UNKNOWN", "READY"}

    def outcome(self, task: _Task) -> tuple[str, Any] | None:
        """``("success", value)``, ``("error", traceback text)`` or None when the task left no result."""
        from submitit.core.utils import pickle_load

        path = task.job.paths.result_pickle
        try:
            path.parent.chmod(path.parent.stat().st_mode)  # refreshes the listing of a network file system
        except OSError:
            pass
        if not path.exists():
            return None
        try:
            return pickle_load(path)
        except Exception as exc:  # noqa: BLE001 - a damaged result is a failed task
            return ("error", f"its result file {path} cannot be read ({exc})")

    def log_tail(self, task: _Task) -> str:
        """The last line of the task's error log that tells of an error or of SLURM stopping it ("" if none)."""
        path = task.job.paths.stderr
        try:
            lines = path.read_text(errors="replace").splitlines()[-200:]
        except OSError:
            return ""
        for line in reversed(lines):
            text = line.strip()
            if _TELLING.search(text) and "Bypassing signal" not in text:
                return text[:300]
        return ""


#: Lines of a task's log worth quoting when it ended without a result.
_TELLING = re.compile(r"error|exception|killed|cancelled|time limit|preempt|out of memory|oom|"
                      r"segmentation|bus error|aborted", re.IGNORECASE)


# ----------------------------------------------------------------------------------------------------- waiting
def _iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="seconds")  # noqa: UP017


def _failure(runner: _Runner, task: _Task, outcome: tuple[str, Any] | None) -> tuple[str, bool]:
    """(message, worth retrying) for a task that did not end well."""
    label = runner.label(task)
    log = task.job.paths.stderr
    if outcome is None:
        tail = runner.log_tail(task)
        how = f"ended ({task.state})" if runner.kind == "slurm" else "ended (its process was killed or crashed)"
        return f"{label} {how} without a result{': ' + tail if tail else ''} (log: {log})", True
    kind, value = outcome
    if kind == "success":
        err = value.get("error") or {}
        return f"{label}: {err.get('message')}", bool(err.get("retry"))
    lines = [ln.strip() for ln in str(value).splitlines() if ln.strip()]
    return f"{label} failed: {lines[-1] if lines else 'no traceback'} (log: {log})", True


def run_tasks(groups: Sequence[Sequence[str]], make_call: Callable[[list[str]], TaskCall], *, executor: str,
              folder: Path, cluster: ClusterSettings, name: str, wait: bool = True,
              remaining: Callable[[list[str]], list[str]],
              on_failure: Callable[[list[str], str], None] | None = None,
              on_records: Callable[[list[dict[str, Any]]], None] | None = None,
              progress: bool = True) -> TasksResult:
    """Run one task per group of video ids and wait for them, submitting failed ones again.

    Parameters
    ----------
    groups
        Video ids per task.
    make_call
        The call of a task for its video ids.
    executor
        ``"slurm"`` (a job array) or ``"local"`` (processes on this machine).
    folder
        Where submitit keeps its scripts, pickles and logs (on storage the nodes see).
    cluster
        The ``cluster`` settings.
    name
        For the job name (``mousefear-<name>``) and messages.
    wait
        False: submit and return at once (:attr:`TasksResult.tasks` holds the job ids).
    remaining
        The videos of a group that are not finished (a failed task's are submitted again).
    on_failure
        Called with the videos of a failed task and the reason (to record it where ``status`` finds it).
    on_records
        Called with the record of every task submitted, and again when it has ended (to keep the job ids and
        their outcome in the project): ``task`` (its id), ``executor``, ``videos``, ``attempt``, ``submitted``,
        ``host``, ``stderr`` (its log), ``state`` (``PENDING``, then ``DONE`` or ``FAILED``).
    progress
        Show a progress bar of videos.

    Raises
    ------
    TaskError
        Submission failed, or the wait ran past ``cluster.max_wait_hours`` (the tasks keep running).
    """
    if executor not in ("slurm", "local"):
        raise ProjectError(f"Expected an executor among slurm, local, but got {executor!r}")
    runner = _Runner(executor, folder, cluster, name)
    queue = [_Task(list(g), 1, make_call(list(g))) for g in groups]
    result = TasksResult()
    active: list[_Task] = []
    t0 = time.time()

    def submit_some() -> None:
        # SLURM runs at most array_parallelism tasks of an array at once; local processes are started only as
        # others end, by this call (without waiting, all at once)
        room = len(queue) if executor == "slurm" or not wait else max(0, cluster.array_parallelism - len(active))
        batch, queue[:] = queue[:room], queue[room:]
        for start in range(0, len(batch), MAX_ARRAY):  # SLURM's MaxArraySize is 1001 by default
            chunk = batch[start:start + MAX_ARRAY]
            try:
                runner.submit(chunk)
            except TaskError as exc:
                if active:
                    raise TaskError(f"{exc}; {len(active)} task(s) submitted before keep running "
                                    f"({', '.join(t.id for t in active[:5])}{' ...' if len(active) > 5 else ''})"
                                    ) from None
                raise
            active.extend(chunk)
            records = []
            for task in chunk:
                task.record = {"task": str(task.job.job_id), "executor": executor, "videos": task.videos,
                               "attempt": task.attempt, "submitted": _iso(task.submitted),
                               "submitted_at": task.submitted, "host": socket.gethostname(),
                               "stderr": str(task.job.paths.stderr), "state": "PENDING"}
                records.append(task.record)
                result.tasks.append(task.record)
            ids = [t.id for t in chunk]
            logger.info("Run %s: submitted %d task(s) for %d video(s): %s %s", name, len(chunk),
                        sum(len(t.videos) for t in chunk), "SLURM job(s)" if executor == "slurm" else "local task(s)",
                        " ".join(ids[:10]) + (" ..." if len(ids) > 10 else ""))
            if on_records is not None:
                on_records(records)

    submit_some()
    if not wait:
        return result
    give_up = time.monotonic() + cluster.max_wait_hours * 3600
    bar = tqdm(total=sum(len(g) for g in groups), desc=f"tasks {name}", unit="video", disable=not progress)
    poll = FIRST_POLL_SECONDS
    try:
        while active or queue:
            if time.monotonic() > give_up:
                left = ", ".join(f"{t.id} {t.state}" for t in active[:10]) + (" ..." if len(active) > 10 else "")
                raise TaskError(f"Run {name!r}: waited {cluster.max_wait_hours:g} h (cluster.max_wait_hours) and "
                                f"{len(active) + len(queue)} task(s) have not ended ({left}); they keep running. "
                                "Follow them with `mousefear status`; when they have ended, run the classify "
                                "command again: it submits only what is missing and writes the run's summary")
            time.sleep(poll)
            poll = min(MAX_POLL_SECONDS, poll * 1.5)
            runner.update()
            again: list[_Task] = []
            done_now: list[_Task] = []
            for task in list(active):
                task.state, ended = runner.state(task)
                task.record["state"] = task.state
                outcome = runner.outcome(task)
                if outcome is None and not ended:
                    continue
                if outcome is None:  # ended without a result (yet?): a shared file system may show it late
                    task.ended_seen = task.ended_seen or time.monotonic()
                    grace = RESULT_GRACE_SECONDS[0 if task.state == "COMPLETED" else 1] if executor == "slurm" else 0
                    if time.monotonic() - task.ended_seen < grace:
                        poll = min(poll, FIRST_POLL_SECONDS)
                        continue
                active.remove(task)
                done_now.append(task)
                if outcome is not None and outcome[0] == "success" and not outcome[1].get("error"):
                    task.record["state"] = "DONE"
                    result.outcomes.append({**outcome[1], "submitted_at": task.submitted, "attempt": task.attempt})
                    bar.update(len(task.videos))
                    logger.info("Run %s: %s finished %s", name, runner.label(task), ", ".join(task.videos))
                    continue
                message, retry = _failure(runner, task, outcome)
                task.record["state"] = "FAILED"
                left = remaining(task.videos)
                bar.update(len(task.videos) - len(left))
                if not left:
                    continue
                if on_failure is not None:
                    on_failure(left, message)
                if retry and task.attempt <= cluster.resubmit:
                    logger.warning("Run %s: %s; submitting %s again (attempt %d of %d)", name, message,
                                   ", ".join(left), task.attempt + 1, cluster.resubmit + 1)
                    again.append(_Task(left, task.attempt + 1, make_call(left)))
                else:
                    why = "" if retry else " (not worth retrying)"
                    logger.error("Run %s: %s; giving up on %s%s", name, message, ", ".join(left), why)
                    result.failed.update({v: message for v in left})
                    bar.update(len(left))
            ended = [t.record for t in done_now]
            if ended and on_records is not None:
                on_records(ended)
            queue.extend(again)
            if queue:
                submit_some()
                poll = FIRST_POLL_SECONDS
    except KeyboardInterrupt:
        logger.warning("Run %s: stopped waiting; %d task(s) keep running (%s). Cancel them with scancel (SLURM) "
                       "or follow them with `mousefear status`", name, len(active),
                       ", ".join(t.id for t in active[:10]))
        raise
    finally:
        bar.close()
        result.seconds = time.time() - t0
    return result


def task_state(record: dict[str, Any], slurm: dict[str, dict[str, str]] | None) -> str:
    """The state of a task kept in jobs.json: DONE or FAILED when the call that waited for it saw it end; else as
    SLURM tells it now (``slurm``: :func:`~mousefear.pipeline.slurm.squeue_states`, ENDED when not listed),
    RUNNING / ENDED for a local task of this host (its process), or UNKNOWN."""
    if record.get("state") in ("DONE", "FAILED"):
        return str(record["state"])
    if record.get("executor") == "slurm":
        if slurm is None:
            return "UNKNOWN"
        return slurm.get(str(record.get("task")), {}).get("state", "ENDED")
    if record.get("host") == socket.gethostname():
        try:
            return "RUNNING" if pid_alive(int(str(record.get("task")))) else "ENDED"
        except ValueError:
            return "UNKNOWN"
    return "UNKNOWN"
