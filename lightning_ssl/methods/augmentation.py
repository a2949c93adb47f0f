"""`Augmentation`: one description of a method's views for both data paths."""

from dataclasses import dataclass, field
from typing import Any

from lightning_ssl.methods.types import BatchTransform, MultiViewTransform
from lightning_ssl.transforms import batched_transform_for


@dataclass(frozen=True)
class Augmentation:
    """A lightly multi-view transform class and the arguments to build it with.

    The batched recipes of :mod:`lightning_ssl.transforms` take the same
    arguments as the lightly classes they mirror, so this one description
    builds both the per-sample transform (PIL images in loader workers) and
    the batched one (`(B, C, H, W)` tensors on the training device), and the
    two cannot drift apart. An argument that is itself an ``Augmentation``,
    such as each of BYOL's two views, is built the same way first.

    Args:
        transform: A lightly transform class, e.g. ``SimCLRTransform``.
        kwargs: Its arguments.

    Example:
        >>> from lightly.transforms import SimCLRTransform
        >>> recipe = Augmentation(SimCLRTransform, {"input_size": 32})
        >>> type(recipe.per_sample()).__name__, type(recipe.batched()).__name__
        ('SimCLRTransform', 'BatchedSimCLRTransform')
    """

    transform: type
    kwargs: dict[str, Any] = field(default_factory=dict)

    def per_sample(self) -> MultiViewTransform:
        """The lightly transform: a PIL image in, a list of view tensors out."""
        kwargs = {
            name: value.per_sample() if isinstance(value, Augmentation) else value
            for name, value in self.kwargs.items()
        }
        transform: MultiViewTransform = self.transform(**kwargs)
        return transform

    def batched(self) -> BatchTransform:
        """The batched recipe: `(B, C, H, W)` images in, a list of views out.

        Raises:
            ValueError: If :mod:`lightning_ssl.transforms` has no batched
                recipe for ``transform`` (or for a nested view).
        """
        kwargs: dict[str, Any] = {
            name: value.batched() if isinstance(value, Augmentation) else value
            for name, value in self.kwargs.items()
        }
        transform: BatchTransform = batched_transform_for(self.transform)(**kwargs)
        return transform
