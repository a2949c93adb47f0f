"""Types shared by the methods: views, transforms and step outputs."""

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypedDict

from torch import Tensor
from typing_extensions import NotRequired

Views = list[Tensor]
# Per-sample transform from an image to its V view tensors (lightly's transforms
# annotate their output loosely, as tensors or PIL images).
MultiViewTransform = Callable[[Any], Sequence[Any]]
BatchTransform = Callable[[Tensor], list[Tensor]]


class StepOutput(TypedDict):
    """What `SSLMethod.training_step` returns; callbacks read it.

    ``features`` are the backbone features `(B, D)` of the first view and
    ``projections`` the head outputs `(B, P)` the loss saw for that view, both
    detached. Collapse monitors and online probes use them without another
    forward pass.
    """

    loss: Tensor
    features: Tensor
    projections: NotRequired[Tensor]
    targets: NotRequired[Tensor]


class Projection(NamedTuple):
    """What :meth:`SSLMethod.project` returns for one view of B images."""

    features: Tensor
    """Backbone features `(B, D)`."""
    projections: Tensor
    """Projection-head outputs `(B, P)`."""
    predictions: Tensor | None
    """Predictor outputs `(B, P)`, or ``None`` for methods without predictor."""
