"""A first-in-first-out queue of feature vectors that is saved in checkpoints."""

import torch
from lightly.models.modules.memory_bank import MemoryBankModule
from torch import Tensor
from torch.nn import functional as F
from typing_extensions import override

from lightning_ssl.validation import check_positive_int


class FeatureQueue(MemoryBankModule):
    """Fixed-size queue of `(N, D)` vectors: MoCo's negatives, NNCLR's support set.

    It is lightly's ``MemoryBankModule`` with two changes: the bank and its write
    pointer are persistent buffers, so a resumed run continues with the same
    contents instead of random vectors, and a ``full`` flag records whether every
    slot has been written once (SwAV only uses its queue then).

    With ``gather_distributed=True`` (the default) each rank enqueues the batches
    of all ranks, so every rank holds the same ``N`` most recent samples of the
    global batch stream. That is what MoCo does, and it matches DDP, which
    broadcasts buffers from rank 0 before each forward pass. With ``False`` a
    queue would hold only its own rank's samples, but DDP's broadcast would then
    overwrite them with rank 0's; keep ``False`` for single-device use.

    Slots not yet written hold lightly's initial random unit vectors. Such
    vectors are trivially easy negatives and meaningless neighbours, so
    :attr:`valid` marks the written slots: MoCo masks the others out of its
    logits and :meth:`nearest_neighbours` never returns them.

    Args:
        size: Number of vectors N.
        dim: Dimension D of each vector.
        gather_distributed: Enqueue the samples of all ranks.

    Raises:
        ValueError: If ``size`` or ``dim`` is not a positive integer.

    Example:
        >>> import torch
        >>> queue = FeatureQueue(size=8, dim=4)
        >>> queue.push(torch.randn(8, 4))
        >>> queue.features.shape, bool(queue.full)
        (torch.Size([8, 4]), True)
    """

    bank: Tensor
    bank_ptr: Tensor
    full: Tensor

    def __init__(self, size: int, dim: int, gather_distributed: bool = True) -> None:
        check_positive_int("size", size)
        check_positive_int("dim", dim)
        super().__init__(
            size=(size, dim),
            gather_distributed=gather_distributed,
            feature_dim_first=True,
        )
        # Re-registering an existing buffer only flips it to persistent.
        self.register_buffer("bank", self.bank)
        self.register_buffer("bank_ptr", self.bank_ptr)
        self.register_buffer("full", torch.zeros((), dtype=torch.bool))

    @property
    def features(self) -> Tensor:
        """A detached copy of the stored vectors, `(N, D)`."""
        return self.bank.detach().clone()

    @property
    def valid(self) -> Tensor:
        """`(N,)` booleans, true for the slots written at least once."""
        if bool(self.full):
            return torch.ones(len(self.bank), dtype=torch.bool, device=self.bank.device)
        return torch.arange(len(self.bank), device=self.bank.device) < self.bank_ptr

    @torch.no_grad()
    def push(self, batch: Tensor) -> None:
        """Enqueue a `(B, D)` batch in place of the oldest entries."""
        self._dequeue_and_enqueue(batch.detach())

    @override
    @torch.no_grad()
    def _dequeue_and_enqueue(self, batch: Tensor) -> None:
        # lightly's write pointer returns to 0 exactly when the end is reached.
        before = int(self.bank_ptr)
        super()._dequeue_and_enqueue(batch)
        if int(self.bank_ptr) <= before:
            self.full.fill_(True)

    @torch.no_grad()
    def nearest_neighbours(self, queries: Tensor) -> Tensor:
        """The written vector most cosine-similar to each query.

        While nothing has been written yet, each query is its own neighbour.

        Args:
            queries: `(B, D)` vectors.

        Returns:
            `(B, D)` stored vectors, unnormalised, without gradient.
        """
        valid = self.valid
        if not valid.any():
            return queries.detach().clone()
        bank = self.bank.to(queries.dtype)
        similarity = F.normalize(queries, dim=1) @ F.normalize(bank, dim=1).T
        similarity = similarity.masked_fill(~valid, float("-inf"))  # (B, N)
        return bank[similarity.argmax(dim=1)]
