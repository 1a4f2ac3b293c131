"""SLURM seen from mousefear: which task this process is, and the state of jobs, with or without accounting.

Job states come from ``squeue`` (``--states=all``: slurmctld keeps a finished job for ``MinJobAge`` seconds,
300 by default), which works on every cluster, also on the many small ones that run without an accounting
database (where ``sacct`` only answers "Slurm accounting storage is disabled"). A job that ``squeue`` no longer
lists has ended. Nothing here waits: every query has a time limit, and a query that cannot be made (no SLURM
client on this host, the controller unreachable) answers None, which callers treat as "cannot tell".
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterable
from typing import Any

__all__ = ["ACTIVE_STATES", "RUNNING_STATES", "current_task", "holder_alive", "squeue_states"]

logger = logging.getLogger(__name__)

#: States of a job whose processes run (or are being stopped).
RUNNING_STATES = frozenset({"RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "STOPPED", "RESIZING",
                            "SIGNALING", "STAGE_OUT"})
#: States of a job that has not ended: it runs, or waits in the queue (again).
ACTIVE_STATES = RUNNING_STATES | {"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD",
                                  "SPECIAL_EXIT"}
#: Time limit of one SLURM command, seconds.
_TIMEOUT = 60


def current_task() -> dict[str, str]:
    """Which task this process is, for lock files and messages.

    Returns
    -------
    dict
        Inside a SLURM job: ``{"task": "SLURM job 1234_5", "slurm_job": "1234_5", "slurm_job_id": "1239"}``
        (``slurm_job`` as ``<array job>_<index>`` for an array task, ``slurm_job_id`` the id SLURM gives that
        task); inside a task of submitit's local executor ``{"task": "local task 4711"}``; otherwise ``{}``.
    """
    env = os.environ
    raw = env.get("SLURM_JOB_ID")
    if raw:
        array, index = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
        job = f"{array}_{index}" if array and index else raw
        return {"task": f"SLURM job {job}", "slurm_job": job, "slurm_job_id": raw}
    if env.get("SUBMITIT_EXECUTOR") == "local" and env.get("SUBMITIT_LOCAL_JOB_ID"):
        return {"task": f"local task {env['SUBMITIT_LOCAL_JOB_ID']}"}
    return {}


def squeue_states(job_ids: Iterable[str]) -> dict[str, dict[str, str]] | None:
    """The state of SLURM jobs, from ``squeue``.

    Parameters
    ----------
    job_ids
        Job ids as sbatch gave them (``1234``, a whole array), ids of array tasks (``1234_5``) or the id SLURM
        gives an array task (``1239``).

    Returns
    -------
    dict or None
        For every job or array task SLURM still knows: ``{"1234_5": {"state": "RUNNING", "node": "node01",
        "job_id": "1239"}}``, keyed by its ``<array job>_<index>`` id (plain jobs by their id), and also by the
        id SLURM gives it. A job missing from the answer has ended (and left the controller's memory). None when
        squeue cannot be asked (not installed here, the controller does not answer).
    """
    ids = sorted({str(j) for j in job_ids})
    if not ids:
        return {}
    if shutil.which("squeue") is None:
        return None
    cmd = ["squeue", "--noheader", "--array", "--states=all", "--format=%i|%A|%T|%N", "--jobs", ",".join(ids)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("squeue did not answer (%s); job states unknown for now", exc)
        return None
    if out.returncode != 0:
        if "Invalid job id" in out.stderr:
            return {}  # none of them is known any more: they have all ended
        logger.warning("squeue failed (%s); job states unknown for now", out.stderr.strip() or out.returncode)
        return None
    states: dict[str, dict[str, str]] = {}
    for line in out.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4:
            continue
        job, raw, state, node = parts
        info = {"state": state.split()[0].rstrip("+"), "node": node, "job_id": raw}
        states[job] = info
        states.setdefault(raw, info)
    return states


def holder_alive(holder: dict[str, Any]) -> bool | None:
    """Whether the SLURM task that holds a lock still runs (for :func:`mousefear._io.lock_file`).

    Returns
    -------
    bool or None
        False when the holder is this very SLURM task before it was requeued, or its job runs no more (it ended,
        or waits in the queue again: its process is gone); True while it runs; None when the holder was no SLURM
        task or SLURM cannot be asked (the lock is then respected).
    """
    job = holder.get("slurm_job_id")
    if not job:
        return None
    if str(job) == os.environ.get("SLURM_JOB_ID"):
        return False  # this task's own lock from before a requeue
    states = squeue_states([str(job)])
    if states is None:
        return None
    state = states.get(str(job), {}).get("state")
    return state in RUNNING_STATES
