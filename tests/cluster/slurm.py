"""A real single-node SLURM (Debian packages) with four fake GPUs, for the `cluster` tests: installed with
apt when missing, configured at the default paths, started, and stopped by the PIDs it started."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
CONF = Path("/etc/slurm/slurm.conf")
GRES = Path("/etc/slurm/gres.conf")
STATE = Path("/var/lib/slurm-test")
PARTITIONS = ("cpu", "gpu")
MARK = "# single-node test cluster of the bmc cluster tests"


def unavailable() -> str | None:
    """Why SLURM cannot be set up here, or None."""
    if os.geteuid() != 0:
        return "needs root to install and start SLURM daemons"
    if not all(shutil.which(p) for p in ("slurmctld", "slurmd", "sbatch", "munged")) and not shutil.which(
        "apt-get"
    ):
        return "SLURM is not installed and apt-get is unavailable"
    if CONF.exists() and MARK not in CONF.read_text():
        return f"{CONF} holds another SLURM configuration, which these tests do not overwrite"
    return None


def run(*cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def install() -> None:
    if all(shutil.which(p) for p in ("slurmctld", "slurmd", "sbatch", "munged")):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES, env=env)


def node_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 - 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def configure() -> None:
    for d in ("ctld", "d", "gpus"):
        (STATE / d).mkdir(parents=True, exist_ok=True)
    for i in range(4):
        (STATE / "gpus" / f"nvidia{i}").touch()
    CONF.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        MARK,
        "ClusterName=test",
        "SlurmctldHost=localhost",
        "SlurmUser=root",
        "AuthType=auth/munge",
        f"StateSaveLocation={STATE / 'ctld'}",
        f"SlurmdSpoolDir={STATE / 'd'}",
        f"SlurmctldPidFile={STATE / 'slurmctld.pid'}",
        f"SlurmdPidFile={STATE / 'slurmd.pid'}",
        f"SlurmctldLogFile={STATE / 'slurmctld.log'}",
        f"SlurmdLogFile={STATE / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "MinJobAge=300",
        "ReturnToService=2",
        "GresTypes=gpu",
        f"NodeName=localhost CPUs={os.cpu_count()} RealMemory={node_memory_mb()} Gres=gpu:4 State=UNKNOWN",
        "PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
        "PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP",
    ]
    CONF.write_text("\n".join(lines) + "\n")
    GRES.write_text(f"NodeName=localhost Name=gpu File={STATE / 'gpus'}/nvidia[0-3]\n")


def start_munge() -> int | None:
    """Start munged unless one answers; its PID when started here."""
    if run("sh", "-c", "munge -n | unmunge", check=False).returncode == 0:
        return None
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        run("mungekey", "--create")
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
    run("install", "-d", "-o", "munge", "-g", "munge", "-m", "755", "/run/munge")
    run("runuser", "-u", "munge", "--", "/usr/sbin/munged")
    run("sh", "-c", "munge -n | unmunge")
    return int(Path("/run/munge/munged.pid").read_text())


def idle() -> bool:
    return run("sinfo", "-h", "-o", "%T", "-p", "gpu", check=False).stdout.strip() == "idle"


def start() -> list[int]:
    """Install, configure and start SLURM; the PIDs of the daemons started here."""
    install()
    configure()
    munged = start_munge()
    if run("scontrol", "ping", check=False).stdout.count("UP") and idle():
        return [munged] if munged else []  # already up (an earlier run): used, left running
    run("slurmctld")
    run("slurmd", "-N", "localhost")
    deadline = time.time() + 60
    while time.time() < deadline and not idle():
        time.sleep(1)
    if not idle():
        raise RuntimeError(f"the SLURM node did not come up\n{(STATE / 'slurmctld.log').read_text()[-2000:]}")
    daemons = [int((STATE / f"{d}.pid").read_text()) for d in ("slurmctld", "slurmd")]
    return daemons + ([munged] if munged else [])


def stop(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
