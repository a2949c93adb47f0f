"""Fixtures of the distributed tests."""

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Run this process single-threaded, like the worker processes.

    The test process computes the single-process references while the machine
    is shared with the workers (and other jobs); with more threads than free
    cores, torch's thread pool spends its time waiting, and a reference that
    takes half a second on one thread can take several seconds on two.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
