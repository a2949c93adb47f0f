"""CPU-scale settings of every method for the bundled benchmarks.

The papers' recipes assume hundreds of epochs on large GPUs: heads 2,048 to
65,536 wide, LARS at batch 4,096, warmup over 10 epochs and more. On two CPU
cores a run lasts a few hundred optimizer steps, so every method here gets:

- the ``narrow_resnet18`` backbone (16 base channels, 128-d features) with its
  standard stem, except MAE and I-JEPA, which need a ViT (``vit_tiny``, 4x4
  patches);
- heads sized to the 128-d features (hidden width 512, outputs 64-512);
- plain SGD with momentum 0.9, learning rate 0.2 x batch / 256 (0.1 at the
  benchmark's batch of 128) and weight decay 5e-4: the optimizer of lightly's
  CIFAR-10 benchmark, which uses 0.06 at batch 128 for 200 epochs (short runs
  take a larger step), with a cosine decay after a warmup over the first 10%
  of the steps;
- EMA teachers that bootstrap the targets (BYOL, DINO, MoCo v3, TiCo, MMCR,
  MSN, I-JEPA) start at momentum 0.96 instead of 0.99-0.996: a horizon of about
  1 / (1 - m) = 25 steps, a tenth of these runs, where the papers' values
  average over hundreds of steps of runs 1,000 times longer;
- schedules that the papers give in epochs (warmup, teacher temperature,
  frozen layers) as fractions of the run instead;
- multi-crop with 4 local crops of 96/224 of the image side (14 px at 32 px)
  instead of 6 (MSN: 4 focal views instead of 10), as the local crops cost a
  full forward pass each.

Everything else keeps the method's defaults, which follow its paper.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from lightning_ssl.methods import METHODS, SSLMethod
from lightning_ssl.validation import check_choice, check_range

RESNET_BACKBONE = "narrow_resnet18"
VIT_BACKBONE = "vit_tiny"
NUM_LOCAL_VIEWS = 4

# Fraction of the optimizer steps spent in linear learning-rate warmup.
WARMUP_FRACTION = 0.1
SHORT_RUN_TEACHER_MOMENTUM = 0.96

SGD = {"optimizer": "sgd", "lr": 0.2, "momentum": 0.9, "weight_decay": 5e-4}
"""Optimizer of the ResNet rows; ``lr`` applies at batch 256 (linear scaling)."""


@dataclass(frozen=True)
class Recipe:
    """How one benchmark row builds its method.

    Attributes:
        method: Registry name, a key of :data:`lightning_ssl.methods.METHODS`.
        kwargs: Constructor arguments besides backbone and schedules.
        backbone: Backbone name.
        note: What differs from the paper's recipe besides the common changes
            listed in this module's docstring.
        epoch_kwargs: Constructor arguments given in epochs, as fractions of
            the run's epochs.
        multi_crop: Whether the method trains on local crops too.
    """

    method: str
    kwargs: dict[str, Any]
    backbone: str = RESNET_BACKBONE
    note: str = ""
    epoch_kwargs: dict[str, float] = field(default_factory=dict)
    multi_crop: bool = False


def _resnet(method: str, note: str = "", **kwargs: Any) -> Recipe:
    epoch_kwargs = kwargs.pop("epoch_kwargs", {})
    multi_crop = bool(kwargs.pop("multi_crop", False))
    if multi_crop:
        kwargs["num_local_views"] = NUM_LOCAL_VIEWS
    return Recipe(
        method,
        {**SGD, "projection_hidden_dim": 512, **kwargs},
        note=note,
        epoch_kwargs=epoch_kwargs,
        multi_crop=multi_crop,
    )


RECIPES: dict[str, Recipe] = {
    recipe.method: recipe
    for recipe in (
        # Temperature 0.5: SimCLR's CIFAR-10 setting (Chen et al., 2020, B.9).
        _resnet("simclr", temperature=0.5, projection_dim=128),
        _resnet(
            "byol",
            "Predictor 128-512-128.",
            projection_dim=128,
            teacher_momentum=SHORT_RUN_TEACHER_MOMENTUM,
        ),
        _resnet("vicreg", projection_dim=512),
        _resnet("barlowtwins", projection_dim=512),
        _resnet(
            "moco",
            "Queue of 4,096 (the 65,536 of MoCo v2 outlasts the whole run); "
            "EMA momentum 0.99, constant, so that queued keys stay consistent.",
            projection_dim=128,
            queue_size=4096,
            teacher_momentum=0.99,
            teacher_momentum_end=0.99,
        ),
        _resnet(
            "mocov3",
            "Temperature 0.2 (ResNet CIFAR setting) instead of 1.0 (ViT).",
            projection_dim=128,
            temperature=0.2,
            teacher_momentum=SHORT_RUN_TEACHER_MOMENTUM,
        ),
        _resnet(
            "nnclr",
            "Support set of 4,096 instead of 98,304.",
            projection_dim=128,
            prediction_hidden_dim=512,
            support_set_size=4096,
        ),
        _resnet(
            "simsiam",
            "Predictor bottleneck 128 (a quarter of the projection width).",
            projection_dim=512,
            prediction_hidden_dim=128,
        ),
        _resnet(
            "swav",
            "256 prototypes; no queue.",
            projection_dim=128,
            num_prototypes=256,
            queue_length=0,
            multi_crop=True,
            epoch_kwargs={"freeze_prototypes_epochs": 0.05},
        ),
        _resnet(
            "dino",
            "Head 512-64-1,024 with batch norm (ResNet setting).",
            bottleneck_dim=64,
            output_dim=1024,
            head_batch_norm=True,
            teacher_momentum=SHORT_RUN_TEACHER_MOMENTUM,
            weight_decay_end=None,
            min_lr_ratio=0.0,
            multi_crop=True,
            epoch_kwargs={
                "warmup_teacher_temperature_epochs": 0.3,
                "freeze_last_layer_epochs": 0.05,
            },
        ),
        _resnet(
            "tico", projection_dim=128, teacher_momentum=SHORT_RUN_TEACHER_MOMENTUM
        ),
        _resnet(
            "mmcr",
            "4 views instead of 8 (each costs a student and a teacher pass).",
            projection_dim=128,
            num_views=4,
            teacher_momentum=SHORT_RUN_TEACHER_MOMENTUM,
        ),
        # The ResNet of every row but MAE's, which cannot do without a ViT: MSN
        # can. Patch masking needs a ViT, so this row keeps only MSN's other
        # kind of masking, the focal views, at a ResNet row's cost (1.2 s a
        # step against MAE's ViT row's 10). Weight decay and final lr as the
        # other SGD rows, not MSN's AdamW schedule.
        replace(
            _resnet(
                "msn",
                "No patch masking (ResNet, mask_ratio=0), focal views only; "
                "256 prototypes instead of 1,024; lr scaled from batch 256.",
                projection_dim=128,
                num_prototypes=256,
                mask_ratio=0.0,
                num_focal_views=NUM_LOCAL_VIEWS,
                reference_batch_size=256,
                teacher_momentum=SHORT_RUN_TEACHER_MOMENTUM,
                weight_decay_end=None,
                min_lr_ratio=0.0,
            ),
            multi_crop=True,
        ),
        _resnet(
            "lejepa",
            "64-d projection, 256 slices for SIGReg.",
            projection_dim=64,
            num_slices=256,
            multi_crop=True,
        ),
        Recipe(
            "mae",
            {
                "backbone_kwargs": {"patch_size": 4},
                "decoder_depth": 2,
                "decoder_dim": 128,
                "decoder_heads": 4,
                "pooling": "mean",
                "optimizer": "adamw",
                "lr": 1e-3,
                "weight_decay": 0.05,
            },
            backbone=VIT_BACKBONE,
            note=(
                "ViT-Tiny, 4x4 patches (another backbone); decoder 2 x 128; "
                "AdamW 1e-3 x batch / 256; mean-pooled patch tokens as features."
            ),
        ),
        Recipe(
            "ijepa",
            {
                "backbone_kwargs": {"patch_size": 4},
                "predictor_depth": 2,
                "predictor_dim": 128,
                "predictor_heads": 4,
                "optimizer": "adamw",
                "lr": 1e-3,
                "reference_batch_size": 256,
                "weight_decay": 0.05,
                "weight_decay_end": None,
                "min_lr_ratio": 0.0,
                "teacher_momentum": SHORT_RUN_TEACHER_MOMENTUM,
            },
            backbone=VIT_BACKBONE,
            note=(
                "ViT-Tiny, 4x4 patches (an 8x8 grid); predictor 2 x 128; AdamW "
                "1e-3 x batch / 256 with constant weight decay 0.05, as MAE's row."
            ),
        ),
    )
}
"""Settings of each method, keyed by registry name."""


def check_method(name: str) -> str:
    """Raise unless ``name`` is a registered method with a benchmark recipe.

    Example:
        >>> check_method("simclr")
        'simclr'
    """
    check_choice("method", name, sorted(set(METHODS) & set(RECIPES)))
    return name


def build_method(name: str, image_size: int, epochs: float) -> SSLMethod:
    """The method ``name`` with its CPU-scale settings for a run of ``epochs``.

    Args:
        name: Registry name, e.g. ``"simclr"``.
        image_size: Side of the square training images (a ViT is built for it).
        epochs: Length of the run in epochs, to which warmups are scaled.

    Returns:
        The method, freshly initialised from torch's global generator.

    Raises:
        ValueError: If ``name`` has no recipe or ``epochs`` is not positive.

    Example:
        >>> model = build_method("simclr", image_size=32, epochs=2.0)
        >>> model.hparams["warmup_epochs"], model.feature_dim
        (0.2, 128)
    """
    check_method(name)
    check_range("epochs", epochs, low=0.0, low_open=True)
    recipe = RECIPES[name]
    kwargs = dict(recipe.kwargs)
    if recipe.backbone == VIT_BACKBONE:
        kwargs["backbone_kwargs"] = {
            **kwargs.get("backbone_kwargs", {}),
            "image_size": image_size,
        }
    for key, fraction in recipe.epoch_kwargs.items():
        kwargs[key] = fraction * epochs
    kwargs["warmup_epochs"] = WARMUP_FRACTION * epochs
    return METHODS[name](recipe.backbone, **kwargs)


def batch_transform(
    name: str, model: SSLMethod, image_size: int
) -> Callable[..., Any] | None:
    """The batched counterpart of ``model.default_transform(image_size)``.

    Every method builds both from one recipe (``default_augmentation``); None
    when a method has no batched recipe, and the row then augments in loader
    workers. ``name`` is the row's method name, kept for the callers' logs.

    Example:
        >>> from lightning_ssl.methods import SimCLR
        >>> type(batch_transform("simclr", SimCLR("narrow_resnet18"), 32)).__name__
        'BatchedSimCLRTransform'
    """
    try:
        return model.default_batch_transform(image_size)
    except NotImplementedError:
        return None


def describe(name: str) -> dict[str, Any]:
    """The settings of a method's row, for the results files.

    Example:
        >>> describe("mae")["backbone"]
        'vit_tiny'
    """
    recipe = RECIPES[name]
    return {
        "backbone": recipe.backbone,
        "kwargs": recipe.kwargs,
        "epoch_fractions": {"warmup_epochs": WARMUP_FRACTION, **recipe.epoch_kwargs},
        "note": recipe.note,
    }
