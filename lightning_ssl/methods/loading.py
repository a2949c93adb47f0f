"""Rebuild a trained method from its checkpoint without knowing its class."""

import importlib
from pathlib import Path
from typing import Any

import torch

from lightning_ssl.methods.base import METHOD_CLASS_KEY, SSLMethod


def load_method(
    checkpoint_path: str | Path, map_location: str = "cpu", **overrides: Any
) -> SSLMethod:
    """Load any lightning_ssl method from a checkpoint, in eval mode.

    The method class is read from the checkpoint, so callers (the CLI's
    evaluation commands, notebooks) need not know whether it holds SimCLR or
    DINO. A method built on a custom backbone module must be given it again
    through ``overrides`` (``backbone=...``).

    Args:
        checkpoint_path: A ``.ckpt`` file written by a Lightning ``Trainer``.
        map_location: Device to load the tensors to.
        **overrides: Constructor arguments replacing the saved ones.

    Returns:
        The method, with the checkpoint's weights, in eval mode.

    Raises:
        FileNotFoundError: If the checkpoint does not exist.
        ValueError: If it was not written by a lightning_ssl method.
    """
    path = Path(checkpoint_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"`checkpoint_path` not found: {path}")
    checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    class_path = checkpoint.get(METHOD_CLASS_KEY)
    if not isinstance(class_path, str):
        raise ValueError(
            f"`checkpoint_path` {path} was not written by a lightning_ssl method "
            f"(no {METHOD_CLASS_KEY!r} entry)."
        )
    module_name, _, class_name = class_path.rpartition(".")
    method_class = getattr(importlib.import_module(module_name), class_name)
    model = method_class.load_from_checkpoint(
        path, map_location=map_location, **overrides
    )
    return model.eval()
