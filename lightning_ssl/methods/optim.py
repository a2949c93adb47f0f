"""Optimizer construction shared by every method: parameter groups, LR scaling."""

import math
from collections.abc import Iterable
from typing import Any, Literal

from lightly.models.utils import get_weight_decay_parameters
from lightly.utils.lars import LARS
from torch import nn
from torch.optim import SGD, AdamW, Optimizer

OptimizerName = Literal["sgd", "adamw", "lars"]
LRScaling = Literal["linear", "sqrt", "none"]

OPTIMIZERS = ("sgd", "adamw", "lars")
LR_SCALINGS = ("linear", "sqrt", "none")

# Learned tokens of vision transformers: like biases and norm parameters they
# carry no scale to regularise, so DINO and MAE exclude them from weight decay.
_NO_DECAY_NAMES = ("class_token", "cls_token", "pos_embedding", "mask_token")


def scaled_lr(
    base_lr: float, global_batch_size: int, rule: str, reference_batch_size: int = 256
) -> float:
    """Scale a learning rate given at ``reference_batch_size`` to the real batch.

    The linear rule (Goyal et al., 2017) suits SGD and LARS at moderate batch
    sizes; the square-root rule (SimCLR, Chen et al., 2020, Appendix B.1) keeps
    large-batch LARS runs stable.

    Args:
        base_lr: Learning rate at ``reference_batch_size``.
        global_batch_size: Samples per optimizer step over all devices, nodes
            and accumulated batches.
        rule: ``"linear"``, ``"sqrt"`` or ``"none"``.
        reference_batch_size: Batch size at which ``base_lr`` applies.

    Returns:
        The learning rate to use.

    Raises:
        ValueError: If ``rule`` is unknown or a batch size is not positive.

    Example:
        >>> scaled_lr(0.3, 512, "linear")
        0.6
        >>> scaled_lr(0.3, 1024, "sqrt")
        0.6
    """
    if rule not in LR_SCALINGS:
        raise ValueError(f"`lr_scaling` must be one of {LR_SCALINGS}, got {rule!r}.")
    if global_batch_size < 1 or reference_batch_size < 1:
        raise ValueError(
            "Batch sizes must be positive, got global batch size "
            f"{global_batch_size} and reference batch size {reference_batch_size}."
        )
    ratio = global_batch_size / reference_batch_size
    if rule == "linear":
        return base_lr * ratio
    if rule == "sqrt":
        return base_lr * math.sqrt(ratio)
    return base_lr


def parameter_groups(
    modules: Iterable[nn.Module],
    weight_decay: float,
    loose: Iterable[tuple[str, nn.Parameter]] = (),
) -> list[dict[str, Any]]:
    """Split parameters into a decayed group and one without weight decay.

    Biases, normalisation parameters and transformer tokens get no weight decay
    (nor LARS adaptation, which lightly's LARS skips when weight decay is 0).

    Args:
        modules: Modules whose trainable parameters are optimised.
        weight_decay: Weight decay of the decayed group.
        loose: ``(name, parameter)`` pairs outside ``modules``, such as a token
            set on a method itself; tokens and vectors among them get no
            weight decay, matrices do.

    Returns:
        Two parameter groups, the second with ``weight_decay=0``.

    Example:
        >>> groups = parameter_groups([nn.Linear(4, 2)], weight_decay=1e-4)
        >>> [len(group["params"]) for group in groups]
        [1, 1]
    """
    modules = list(modules)
    decay, no_decay = get_weight_decay_parameters(modules)
    token_ids = {
        id(param)
        for module in modules
        for name, param in module.named_parameters()
        if name.rsplit(".", 1)[-1] in _NO_DECAY_NAMES
    }
    no_decay += [param for param in decay if id(param) in token_ids]
    decay = [param for param in decay if id(param) not in token_ids]
    for name, param in loose:
        is_token = name in _NO_DECAY_NAMES or param.ndim <= 1
        (no_decay if is_token else decay).append(param)
    return [
        {"params": [p for p in decay if p.requires_grad], "weight_decay": weight_decay},
        {"params": [p for p in no_decay if p.requires_grad], "weight_decay": 0.0},
    ]


def build_optimizer(
    name: str,
    groups: list[dict[str, Any]],
    lr: float,
    momentum: float = 0.9,
    betas: tuple[float, float] = (0.9, 0.999),
) -> Optimizer:
    """Create an SGD, AdamW or LARS optimizer over the given parameter groups.

    Args:
        name: ``"sgd"``, ``"adamw"`` or ``"lars"`` (lightly's implementation).
        groups: Parameter groups, e.g. from :func:`parameter_groups`.
        lr: Initial learning rate.
        momentum: Momentum of SGD and LARS.
        betas: Adam betas of AdamW.

    Raises:
        ValueError: If ``name`` is unknown.
    """
    if name == "sgd":
        return SGD(groups, lr=lr, momentum=momentum)
    if name == "lars":
        return LARS(groups, lr=lr, momentum=momentum)
    if name == "adamw":
        return AdamW(groups, lr=lr, betas=betas)
    raise ValueError(f"`optimizer` must be one of {OPTIMIZERS}, got {name!r}.")


def loader_batch_size(trainer: Any) -> int:
    """Per-device batch size of the trainer's training loader.

    Raises:
        ValueError: If the loader does not expose its batch size.
    """
    _set_up_train_data(trainer)
    loader = trainer.train_dataloader
    size = getattr(loader, "batch_size", None)
    if size is None:
        size = getattr(getattr(loader, "batch_sampler", None), "batch_size", None)
    if not isinstance(size, int):
        raise ValueError(
            "Could not read the per-device batch size from the training loader "
            f"({type(loader).__name__}); pass `batch_size` to the method for "
            "learning-rate scaling."
        )
    return size


def steps_per_epoch(trainer: Any) -> float:
    """Optimizer steps per epoch: loader batches over accumulated batches."""
    _set_up_train_data(trainer)
    batches = trainer.num_training_batches
    if math.isinf(batches):
        return float(trainer.estimated_stepping_batches) / max(
            trainer.max_epochs or 1, 1
        )
    return float(batches / trainer.accumulate_grad_batches)


def _set_up_train_data(trainer: Any) -> None:
    # Lightning loads the training data lazily; when only `max_steps` bounds
    # the run, `estimated_stepping_batches` does not load it either.
    if trainer.train_dataloader is None:
        trainer.fit_loop.setup_data()
