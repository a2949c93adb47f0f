"""What a benchmark ran on: machine, library versions, commit, memory, load."""

import importlib.metadata
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("torch", "torchvision", "lightning", "lightly", "torchmetrics")


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else ``platform``'s guess."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def usable_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(value, 2) for value in os.getloadavg()]


def git(*args: str) -> str:
    """Output of a git command in the repository, empty when git fails."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
    except OSError:
        return ""
    return result.stdout.strip()


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB.

    ``ru_maxrss`` counts kibibytes on Linux and bytes on macOS.

    Example:
        >>> peak_rss_mib() > 0
        True
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 / 2**20 if sys.platform == "darwin" else 1 / 2**10
    return round(peak * scale, 1)


def machine() -> dict[str, Any]:
    """The machine, versions and commit, for the header of a results file.

    Example:
        >>> sorted(machine())[:3]
        ['cpu', 'cuda_device', 'git_commit']
    """
    return {
        "cpu": cpu_model(),
        "usable_cores": usable_cores(),
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_device": (
            torch.cuda.get_device_name() if torch.cuda.is_available() else None
        ),
        "python": platform.python_version(),
        "versions": {name: importlib.metadata.version(name) for name in LIBRARIES},
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "load_average": load_average(),
    }
