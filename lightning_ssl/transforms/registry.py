"""Find the batched recipe of a method or of a lightly transform class."""

from lightning_ssl.transforms.byol import (
    BatchedBYOLTransform,
    BatchedBYOLView1Transform,
    BatchedBYOLView2Transform,
)
from lightning_ssl.transforms.dino import BatchedDINOTransform
from lightning_ssl.transforms.fast_siam import BatchedFastSiamTransform
from lightning_ssl.transforms.mae import BatchedMAETransform
from lightning_ssl.transforms.mmcr import BatchedMMCRTransform
from lightning_ssl.transforms.moco import BatchedMoCoV2Transform
from lightning_ssl.transforms.msn import BatchedMSNTransform
from lightning_ssl.transforms.multi_crop import BatchedMultiCropTransform
from lightning_ssl.transforms.multi_view import BatchedMultiViewTransform
from lightning_ssl.transforms.simclr import BatchedSimCLRTransform
from lightning_ssl.transforms.simsiam import BatchedSimSiamTransform
from lightning_ssl.transforms.swav import BatchedSwaVTransform
from lightning_ssl.transforms.vicreg import BatchedVICRegTransform
from lightning_ssl.transforms.view import BatchedViewTransform

# Keys are method names, lower case without separators; a lightly class name
# maps to a key once lower-cased and stripped of its "Transform" suffix. The
# BYOL views are single-view transforms, the parts of BYOL's two-view recipe.
BATCHED_TRANSFORMS: dict[
    str, type[BatchedMultiViewTransform | BatchedViewTransform]
] = {
    "byol": BatchedBYOLTransform,
    "byolview1": BatchedBYOLView1Transform,
    "byolview2": BatchedBYOLView2Transform,
    "dino": BatchedDINOTransform,
    "fastsiam": BatchedFastSiamTransform,
    "mae": BatchedMAETransform,
    "mmcr": BatchedMMCRTransform,
    "mocov2": BatchedMoCoV2Transform,
    "msn": BatchedMSNTransform,
    "multicrop": BatchedMultiCropTransform,
    "simclr": BatchedSimCLRTransform,
    "simsiam": BatchedSimSiamTransform,
    "swav": BatchedSwaVTransform,
    "vicreg": BatchedVICRegTransform,
}
# lightly's TiCo transforms are BYOL's under another name.
_ALIASES = {
    "moco": "mocov2",
    "tico": "byol",
    "ticoview1": "byolview1",
    "ticoview2": "byolview2",
}
# lightly spells its multi-crop class "MultiCropTranform".
_SUFFIXES = ("transform", "tranform")


def batched_transform_for(
    transform: str | type | object,
) -> type[BatchedMultiViewTransform | BatchedViewTransform]:
    """Return the batched recipe matching a method or a lightly transform.

    Args:
        transform: A method name such as ``"simclr"`` or ``"MoCo-v2"``, a lightly
            class name such as ``"SimCLRTransform"``, or a lightly transform
            class or instance. Case, ``-``, ``_`` and spaces are ignored.

    Returns:
        The batched recipe class, to be built with the same arguments as the
        lightly class (see each recipe for what is not supported).

    Raises:
        ValueError: If no batched recipe matches.

    Example:
        >>> from lightly.transforms import DINOTransform
        >>> batched_transform_for(DINOTransform).__name__
        'BatchedDINOTransform'
        >>> batched_transform_for("SimCLR").__name__
        'BatchedSimCLRTransform'
    """
    if isinstance(transform, str):
        name = transform
    elif isinstance(transform, type):
        name = transform.__name__
    else:
        name = type(transform).__name__

    key = "".join(char for char in name.lower() if char not in "-_ ")
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and key != suffix:
            key = key.removesuffix(suffix)
    key = _ALIASES.get(key, key)
    if key not in BATCHED_TRANSFORMS:
        raise ValueError(
            "`transform` must name a method or lightly transform with a batched "
            f"recipe, one of {tuple(BATCHED_TRANSFORMS)}, got {name!r}."
        )
    return BATCHED_TRANSFORMS[key]
