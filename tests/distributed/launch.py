"""Run a function on several CPU processes joined in a gloo group, as torchrun would.

The distributed tests check that what a loss, a queue or a schedule computes on
``W`` processes, each holding ``1/W`` of the batch, is what one process computes
on the whole batch. :func:`run_on_ranks` starts the processes on the loopback
interface, sets the environment variables that ``torchrun`` sets (so a Lightning
``Trainer(strategy="ddp")`` created inside joins the group instead of launching
processes of its own) and returns what the function returned on each rank.
"""

import os
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from lightning.fabric.utilities.rank_zero import rank_zero_only

# Generous for two shared CPU cores; a hung collective fails the test after this.
TIMEOUT_S = 180.0
# How long the other ranks may take to finish once one has failed.
FAILURE_GRACE_S = 5.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free at the time of the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_on_ranks(
    function: Callable[..., Any],
    *args: Any,
    world_size: int = 2,
    timeout: float = TIMEOUT_S,
) -> list[Any]:
    """Call ``function(rank, world_size, *args)`` on ``world_size`` CPU processes.

    Each process runs single-threaded (the processes share the CPU cores) in a
    gloo process group over 127.0.0.1. On Linux the processes are forked, so
    they start in a second instead of importing torch and Lightning again;
    elsewhere they are spawned, and ``function`` must then be importable.

    Args:
        function: Module-level function; its return value must be picklable
            (tensors included).
        *args: Further arguments, the same for every rank.
        world_size: Number of processes.
        timeout: Seconds before the processes are killed and the call fails.

    Returns:
        The return values, indexed by rank.

    Raises:
        RuntimeError: If a process raised (the tracebacks of the failed ranks
            are included, the first failure first) or died.
        TimeoutError: If the processes did not finish within ``timeout``.
    """
    try:
        return _launch(function, args, world_size, timeout, free_port())
    except RuntimeError as error:
        # The free port can be taken by another program before rank 0 binds it.
        if "address already in use" not in str(error).lower():
            raise
        return _launch(function, args, world_size, timeout, free_port())


def _launch(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    world_size: int,
    timeout: float,
    port: int,
) -> list[Any]:
    method = "fork" if sys.platform == "linux" else "spawn"
    context = mp.get_context(method)
    with tempfile.TemporaryDirectory(prefix="lightning_ssl_dist_") as name:
        folder = Path(name)
        processes = [
            context.Process(  # type: ignore[attr-defined]
                target=_run_rank,
                args=(rank, world_size, port, folder, function, args),
            )
            for rank in range(world_size)
        ]
        for process in processes:
            process.start()
        _join(processes, folder, timeout)

        # The first failure is the cause; ranks waiting on it fail after it.
        errors = sorted(folder.glob("*.error"), key=lambda p: p.stat().st_mtime_ns)
        if errors:
            reports = [f"{path.stem} failed:\n{path.read_text()}" for path in errors]
            raise RuntimeError("\n".join(reports))
        results = []
        for rank, process in enumerate(processes):
            path = folder / f"rank{rank}.pt"
            if not path.is_file():
                raise RuntimeError(
                    f"Rank {rank} exited with code {process.exitcode} without a result."
                )
            results.append(torch.load(path, weights_only=False))
    return results


def _join(processes: list[Any], folder: Path, timeout: float) -> None:
    """Wait for the processes; stop them all soon after one of them fails."""
    deadline = time.monotonic() + timeout
    timed_out = True
    while time.monotonic() < deadline:
        if not any(process.is_alive() for process in processes):
            timed_out = False
            break
        if any(folder.glob("*.error")):
            # The others may be blocked in a collective the failed rank left.
            deadline = min(deadline, time.monotonic() + FAILURE_GRACE_S)
            timed_out = False
        time.sleep(0.05)
    hung = [process for process in processes if process.is_alive()]
    for process in hung:
        process.kill()
        process.join()
    if hung and timed_out:
        raise TimeoutError(
            f"{len(hung)} of {len(processes)} processes were still running after "
            f"{timeout:.0f} s (a collective that not every rank entered?)."
        )


def _run_rank(
    rank: int,
    world_size: int,
    port: int,
    folder: Path,
    function: Callable[..., Any],
    args: tuple[Any, ...],
) -> None:
    # What torchrun exports; Lightning's default cluster environment reads them.
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world_size),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world_size),
        NODE_RANK="0",
        GROUP_RANK="0",
    )
    # A fresh process would read RANK at import; forked ones inherit rank 0.
    rank_zero_only.rank = rank  # type: ignore[attr-defined]
    torch.set_num_threads(1)
    try:
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=world_size,
            timeout=timedelta(seconds=TIMEOUT_S),
        )
        result = function(rank, world_size, *args)
        if dist.is_initialized():
            dist.destroy_process_group()
    except BaseException:
        (folder / f"rank{rank}.error").write_text(traceback.format_exc())
        return
    # Written whole, then renamed: the parent never reads a partial file.
    partial = folder / f"rank{rank}.partial"
    torch.save(result, partial)
    partial.rename(folder / f"rank{rank}.pt")
