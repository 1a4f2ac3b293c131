"""A real single-node SLURM cluster for the tests, started from Debian's packages in a temporary folder.

``slurmctld``, ``slurmd`` and ``munged`` (packages ``slurmctld slurmd slurm-client munge``; SLURM 22.05 on
Debian 12) run as root with everything (config, munge key and socket, state, spool, logs) inside one temporary
folder and on free TCP ports, so nothing of the machine's own configuration is touched or needed:
``ProctrackType=proctrack/linuxproc``, ``TaskPlugin=task/none``, ``JobAcctGatherType=jobacct_gather/none``, no
cgroup.conf, a generated munge key, the node's real CPU count and memory, and no accounting database (``sacct``
answers "accounting storage is disabled", as on many small lab clusters). The fixture skips with the reason where
the cluster cannot start (not root, packages missing); ``.ci/run`` installs the packages.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel", "scontrol")


@dataclass
class SlurmCluster:
    """A running cluster: ``env`` holds SLURM_CONF for the client commands (and submitit)."""

    folder: Path
    conf: Path
    node: str
    cpus: int

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, check: bool = True) -> str:
        """Run a SLURM client command against this cluster; its stdout."""
        out = subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=60)
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}): {out.stderr.strip()}")
        return out.stdout

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted((self.folder / "log").glob("*.log")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _why_not() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "a SLURM test cluster needs root (slurmd runs jobs as their user); run the tests as root"
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        return (f"SLURM is not installed ({', '.join(missing)} missing): apt-get install slurmctld slurmd "
                "slurm-client munge (.ci/run does)")
    return None


def start_cluster(folder: Path, timeout: float = 60.0) -> SlurmCluster:
    """Start munged, slurmctld and slurmd in ``folder``; return when the node is idle.

    Raises
    ------
    RuntimeError
        A daemon did not start or the node did not come up within ``timeout`` seconds (the message has the logs).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool", "log", "munge"):
        (folder / sub).mkdir(exist_ok=True)
    munge = folder / "munge"
    munge.chmod(0o700)
    key = munge / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    sock = munge / "munge.socket"
    subprocess.run(["munged", f"--key-file={key}", f"--socket={sock}", f"--pid-file={munge / 'munged.pid'}",
                    f"--log-file={folder / 'log' / 'munged.log'}", f"--seed-file={munge / 'seed'}", "--force"],
                   check=True, timeout=30)
    node = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    mem_mb = max(1000, int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20) - 1024)
    conf = folder / "slurm.conf"
    conf.write_text(f"""ClusterName=mousefeartest
SlurmctldHost={node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
StateSaveLocation={folder / 'state'}
SlurmdSpoolDir={folder / 'spool'}
SlurmctldPidFile={folder / 'slurmctld.pid'}
SlurmdPidFile={folder / 'slurmd.pid'}
SlurmctldLogFile={folder / 'log' / 'slurmctld.log'}
SlurmdLogFile={folder / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MinJobAge=3600
KillWait=5
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
""")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    cluster = SlurmCluster(folder=folder, conf=conf, node=node, cpus=cpus)
    subprocess.run(["slurmctld", "-f", str(conf)], env=env, check=True, timeout=30)
    subprocess.run(["slurmd", "-f", str(conf)], env=env, check=True, timeout=30)
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = cluster.run("sinfo", "-h", "-o", "%T", check=False).strip()
        if state in ("idle", "mixed", "allocated"):
            return cluster
        time.sleep(0.5)
    stop_cluster(cluster)
    raise RuntimeError(f"the SLURM test cluster in {folder} did not come up (node state {state!r}):\n{cluster.logs()}")


def stop_cluster(cluster: SlurmCluster) -> None:
    """Stop the daemons (jobs still running are killed with them)."""
    subprocess.run(["scontrol", "shutdown"], env=cluster.env, capture_output=True, timeout=60)
    for pid_file in (cluster.folder / "slurmd.pid", cluster.folder / "slurmctld.pid",
                     cluster.folder / "munge" / "munged.pid"):
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A running single-node SLURM cluster (session-wide); SLURM_CONF points at it while it runs."""
    why = _why_not()
    if why:
        pytest.skip(why)
    cluster = start_cluster(Path(tmp_path_factory.mktemp("slurm")))
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
