"""Representation-health statistics of `(B, D)` embeddings, as plain functions.

Each function takes a batch of embeddings and returns a scalar tensor; the
torchmetrics classes in :mod:`lightning_ssl.metrics.embedding` accumulate the
same quantities over many batches and devices. All of them run without
gradients and in float32 or better, whatever the input precision.

Two kinds of collapse are told apart (Jing et al., 2022,
https://arxiv.org/abs/2110.09348): *complete* collapse, where every input maps
to (nearly) the same point, and *dimensional* collapse, where embeddings vary
but only inside a low-dimensional subspace.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# Variation below this fraction of the mean squared norm is treated as rounding
# noise: 1e-8 in variance is 1e-4 in amplitude, far above float32's 1.2e-7
# resolution, so an exactly constant input in float32 reads as constant.
RELATIVE_VARIANCE_FLOOR = 1e-8


def check_embeddings(name: str, embeddings: object, min_rows: int = 1) -> Tensor:
    """Raise unless ``embeddings`` is a `(B, D)` tensor with at least ``min_rows``.

    Args:
        name: Parameter name used in the error message.
        embeddings: The value to check.
        min_rows: Smallest allowed batch size B.

    Returns:
        The embeddings as float32 or float64 (half precision is upcast).

    Raises:
        TypeError: If ``embeddings`` is not a tensor.
        ValueError: If it is not 2-D, has fewer than ``min_rows`` rows or no
            columns.

    Example:
        >>> check_embeddings("embeddings", torch.zeros(3, 4)).shape
        torch.Size([3, 4])
    """
    if not isinstance(embeddings, Tensor):
        raise TypeError(
            f"`{name}` must be a (B, D) tensor, got {type(embeddings).__name__}."
        )
    shape = tuple(embeddings.shape)
    if embeddings.ndim != 2 or shape[0] < min_rows or shape[1] < 1:
        raise ValueError(
            f"`{name}` must be a (B, D) tensor with B >= {min_rows} and D >= 1, "
            f"got shape {shape}."
        )
    if embeddings.dtype not in (torch.float32, torch.float64):
        embeddings = embeddings.float()
    return embeddings.detach()


@torch.no_grad()
def normalized_std(embeddings: Tensor) -> Tensor:
    """Mean over dimensions of the std of l2-normalised embeddings.

    For embeddings spread evenly over the unit sphere each dimension has
    variance 1/D, so the value is close to ``1 / sqrt(D)``; it falls to 0 as
    all embeddings approach one direction (SimSiam, Chen & He, 2021,
    Sec. 4.1). It is the statistic lightly and solo-learn log.

    Args:
        embeddings: `(B, D)` embeddings, B >= 2.

    Returns:
        A scalar tensor in ``[0, 1]``.

    Example:
        >>> import torch
        >>> from lightning_ssl.metrics import normalized_std
        >>> normalized_std(torch.ones(8, 16)).item()
        0.0
    """
    embeddings = check_embeddings("embeddings", embeddings, min_rows=2)
    return F.normalize(embeddings, dim=1).std(dim=0).mean()


@torch.no_grad()
def rankme(embeddings: Tensor, eps: float = 1e-7) -> Tensor:
    """RankMe: the exponential of the entropy of the normalised singular values.

    RankMe (Garrido et al., 2023, https://arxiv.org/abs/2210.02885, Eq. 1)
    is a smooth effective rank of the (uncentred) embedding matrix: with
    singular values s_k, ``p_k = s_k / sum(s) + eps`` and
    ``rankme = exp(-sum_k p_k log p_k)``. It lies between about 1 (all
    embeddings on one line, or all zero) and ``min(B, D)`` (all singular
    values equal), and correlates with downstream accuracy.

    Args:
        embeddings: `(B, D)` embeddings.
        eps: The paper's smoothing constant, which keeps ``log`` finite.

    Returns:
        A scalar tensor.

    Example:
        >>> import torch
        >>> from lightning_ssl.metrics import rankme
        >>> round(rankme(torch.eye(4)).item(), 3)
        4.0
    """
    embeddings = check_embeddings("embeddings", embeddings)
    singular_values = torch.linalg.svdvals(embeddings)
    total = singular_values.sum().clamp_min(torch.finfo(embeddings.dtype).tiny)
    p = singular_values / total + eps
    return torch.exp(-(p * torch.log(p)).sum())


@torch.no_grad()
def principal_variances(embeddings: Tensor) -> Tensor:
    """Variances `(D,)` of the embeddings along their principal axes, descending.

    These are the eigenvalues of the (unbiased) covariance matrix, zero-padded
    to D when B - 1 < D. They are all zero when the variation is below
    :data:`RELATIVE_VARIANCE_FLOOR` times the mean squared norm.

    Args:
        embeddings: `(B, D)` embeddings, B >= 2.

    Example:
        >>> import torch
        >>> from lightning_ssl.metrics.functional import principal_variances
        >>> variances = principal_variances(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        >>> [round(v, 4) for v in variances.tolist()]
        [2.0, 0.0]
    """
    embeddings = check_embeddings("embeddings", embeddings, min_rows=2)
    num_samples, dim = embeddings.shape
    centered = embeddings - embeddings.mean(dim=0, keepdim=True)
    variances = torch.linalg.svdvals(centered).square() / (num_samples - 1)
    variances = F.pad(variances, (0, dim - variances.numel()))

    mean_square_norm = embeddings.square().sum(dim=1).mean()
    if variances.sum() <= RELATIVE_VARIANCE_FLOOR * mean_square_norm:
        return torch.zeros_like(variances)
    return variances


@torch.no_grad()
def active_dimension_fraction(embeddings: Tensor, threshold: float = 0.01) -> Tensor:
    """Fraction of the D principal axes whose variance is not negligible.

    An axis counts as active when its variance exceeds ``threshold`` times the
    mean variance per axis (total variance / D). Principal axes are used rather
    than coordinates because a representation squeezed into a rotated
    low-dimensional subspace still varies along every coordinate; a linear
    probe, being rotation-invariant, only sees the principal axes. With
    B - 1 < D at most ``(B - 1) / D`` of the axes can be active.

    Args:
        embeddings: `(B, D)` embeddings, B >= 2.
        threshold: Variance, relative to the mean, above which an axis counts.

    Returns:
        A scalar tensor in ``[0, 1]``; 0 for constant embeddings.

    Raises:
        ValueError: If ``threshold`` is not positive.

    Example:
        >>> import torch
        >>> from lightning_ssl.metrics import active_dimension_fraction
        >>> generator = torch.Generator().manual_seed(0)
        >>> weights = torch.randn(2, 8, generator=generator)
        >>> plane = torch.randn(64, 2, generator=generator) @ weights
        >>> active_dimension_fraction(plane).item()
        0.25
    """
    if not threshold > 0:
        raise ValueError(f"`threshold` must be > 0, got {threshold}.")
    variances = principal_variances(embeddings)
    mean_variance = variances.mean()
    if mean_variance == 0:
        return torch.zeros((), dtype=variances.dtype, device=variances.device)
    active = (variances > threshold * mean_variance).sum()
    return active.to(variances.dtype) / variances.numel()


@torch.no_grad()
def mean_cosine_similarity(embeddings: Tensor) -> Tensor:
    """Mean cosine similarity over all pairs of distinct embeddings.

    Near 0 for embeddings spread over the sphere, 1 under complete collapse.
    Features after a ReLU are non-negative, so their healthy values are well
    above 0. A zero embedding has cosine 0 with everything.

    Args:
        embeddings: `(B, D)` embeddings, B >= 2.

    Returns:
        A scalar tensor in ``[-1, 1]``.

    Example:
        >>> import torch
        >>> from lightning_ssl.metrics import mean_cosine_similarity
        >>> mean_cosine_similarity(torch.tensor([[1.0, 0.0], [0.0, 2.0]])).item()
        0.0
    """
    embeddings = check_embeddings("embeddings", embeddings, min_rows=2)
    unit = F.normalize(embeddings.double(), dim=1)

    # The sum over all ordered pairs (i, j), i != j, of u_i . u_j equals
    # |sum_i u_i|^2 - sum_i |u_i|^2: O(B * D) instead of a (B, B) Gram matrix.
    num_samples = unit.shape[0]
    pair_sum = unit.sum(dim=0).square().sum() - unit.square().sum()
    mean = pair_sum / (num_samples * (num_samples - 1))
    return mean.to(embeddings.dtype)


@torch.no_grad()
def uniformity(embeddings: Tensor, t: float = 2.0) -> Tensor:
    """Uniformity loss of Wang & Isola (2020, https://arxiv.org/abs/2005.10242).

    ``log mean_{i<j} exp(-t |u_i - u_j|^2)`` over pairs of distinct
    l2-normalised embeddings. Lower is more uniform: about ``-2 t`` for
    embeddings spread over a high-dimensional sphere, 0 under complete
    collapse. ``t = 2`` is the paper's choice (Sec. 4.1.2).

    Args:
        embeddings: `(B, D)` embeddings, B >= 2.
        t: Temperature of the Gaussian potential, > 0.

    Returns:
        A scalar tensor in ``[-4 t, 0]``.

    Raises:
        ValueError: If ``t`` is not positive.

    Example:
        >>> import torch
        >>> from lightning_ssl.metrics import uniformity
        >>> uniformity(torch.ones(4, 3)).item()
        0.0
    """
    if not t > 0:
        raise ValueError(f"`t` must be > 0, got {t}.")
    embeddings = check_embeddings("embeddings", embeddings, min_rows=2)
    unit = F.normalize(embeddings, dim=1)

    # Exponents -t |u_i - u_j|^2 of all (B, B) pairs from the Gram matrix,
    # computed in place: with B = 2048 this matrix is the monitor's largest
    # cost. Each unordered pair appears twice, which leaves the mean unchanged.
    num_samples = unit.shape[0]
    square_norms = unit.square().sum(dim=1)
    exponents = unit @ unit.T
    exponents.mul_(2 * t).sub_(t * square_norms[:, None])
    exponents.sub_(t * square_norms[None, :]).clamp_(max=0)
    exponents.fill_diagonal_(-math.inf)

    # Log of the mean of exp, shifted by the maximum so large t cannot underflow.
    shift = exponents.max()
    total = exponents.sub_(shift).exp_().sum()
    return total.log() + shift - math.log(num_samples * (num_samples - 1))


@torch.no_grad()
def alignment(z0: Tensor, z1: Tensor, alpha: float = 2.0) -> Tensor:
    """Alignment loss of Wang & Isola (2020): mean ``|u0 - u1|^alpha`` of pairs.

    ``z0[i]`` and ``z1[i]`` embed two augmented views of the same image; both
    are l2-normalised first. 0 when positive pairs coincide, 4 at most for
    ``alpha = 2`` (the paper's choice, Sec. 4.1.1). A low value alone says
    nothing about collapse: a constant encoder is perfectly aligned.

    Args:
        z0: `(B, D)` embeddings of the first views.
        z1: `(B, D)` embeddings of the second views.
        alpha: Exponent of the distance, > 0.

    Returns:
        A scalar tensor.

    Raises:
        ValueError: If the shapes differ or ``alpha`` is not positive.

    Example:
        >>> import torch
        >>> from lightning_ssl.metrics import alignment
        >>> z0, z1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]])
        >>> round(alignment(z0, z1).item(), 4)
        2.0
    """
    if not alpha > 0:
        raise ValueError(f"`alpha` must be > 0, got {alpha}.")
    z0 = check_embeddings("z0", z0)
    z1 = check_embeddings("z1", z1)
    if z0.shape != z1.shape:
        raise ValueError(
            f"`z0` and `z1` must have the same shape, got {tuple(z0.shape)} and "
            f"{tuple(z1.shape)}."
        )
    distances = (F.normalize(z0, dim=1) - F.normalize(z1, dim=1)).norm(dim=1)
    return distances.pow(alpha).mean()
