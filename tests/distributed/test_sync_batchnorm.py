"""``SSLMethod(sync_batchnorm=...)`` converts batch norms only where it should.

With the default ``None`` the conversion happens for multi-GPU training only:
on CPU the gloo backend has no ``SyncBatchNorm`` kernel, and on one device it
only costs time. ``True`` and ``False`` override the choice (``True`` still
needs more than one process). The trainer and the device are mocked: the tests
set the world size and, for CUDA, the device Lightning reports in ``setup``.
"""

from types import SimpleNamespace

import pytest
import torch
from lightly.models.utils import update_momentum
from torch import nn

from lightning_ssl.methods import BYOL, SSLMethod


def _model(sync_batchnorm: bool | None) -> SSLMethod:
    # BYOL: batch norm in backbone, heads and the EMA teacher.
    return BYOL(
        "narrow_resnet18",
        cifar_stem=True,
        backbone_kwargs={"width": 4},
        projection_hidden_dim=8,
        projection_dim=4,
        sync_batchnorm=sync_batchnorm,
    )


def _set_up(model: SSLMethod, device: str, world_size: int) -> SSLMethod:
    """Run ``setup`` as Lightning does: trainer attached, device already set."""
    model.trainer = SimpleNamespace(world_size=world_size)  # type: ignore[assignment]
    # Lightning sets the target device before `setup`, while the weights are
    # still on the CPU; an index keeps `device` from querying CUDA.
    model._device = (
        torch.device(device, 0) if device == "cuda" else torch.device(device)
    )
    model.setup("fit")
    return model


def _kinds(model: nn.Module) -> set[type[nn.Module]]:
    return {
        type(module)
        for module in model.modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm)
    }


@pytest.mark.parametrize(
    ("sync_batchnorm", "device", "world_size", "expected"),
    [
        (None, "cpu", 2, False),  # gloo: no SyncBatchNorm on CPU
        (None, "cuda", 1, False),  # nothing to synchronise with
        (None, "cuda", 2, True),
        (None, "cuda", 16, True),  # e.g. 2 nodes x 8 GPUs
        (False, "cuda", 8, False),
        (True, "cuda", 1, False),
        (True, "cuda", 4, True),
    ],
)
def test_conversion(
    sync_batchnorm: bool | None, device: str, world_size: int, expected: bool
) -> None:
    model = _set_up(_model(sync_batchnorm), device, world_size)
    if expected:
        assert _kinds(model) == {nn.SyncBatchNorm}
    else:
        assert nn.SyncBatchNorm not in _kinds(model)
        assert _kinds(model)  # the model does have batch norms


def test_converted_model_keeps_parameters_and_teachers() -> None:
    """Conversion keeps weights, the optimizer's view and the EMA pairs."""
    model = _model(None)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    _set_up(model, "cuda", 2)

    after = dict(model.named_parameters())
    assert after.keys() == before.keys()
    for name, value in before.items():
        torch.testing.assert_close(after[name].detach(), value, rtol=0, atol=0)
    # The EMA pairs still hold the (converted) modules of the model, so the
    # teacher update reaches every parameter, batch-norm scales included.
    pairs = model._teacher_pairs
    assert pairs[0][0] is model.backbone and pairs[0][1] is model.teacher_backbone
    with torch.no_grad():
        for parameter in model.backbone.parameters():
            parameter.add_(1.0)
    update_momentum(model.backbone, model.teacher_backbone, m=0.0)
    student = model.backbone.state_dict()
    for name, value in model.teacher_backbone.state_dict().items():
        torch.testing.assert_close(value, student[name], msg=name)
