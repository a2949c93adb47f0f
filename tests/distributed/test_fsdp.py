"""EMA teachers under FSDP: correct when each teacher is sharded like its student.

Under FSDP a parameter outside the forward pass is only this rank's slice of a
flat, sharded tensor, so the teacher update ``teacher = m * teacher + (1 - m) *
student`` (``after_optimizer_step``) works on local slices. It is exact when
every student module and its teacher copy are separate FSDP units with the same
layout, since their flat tensors are then sliced alike. The wrap policy must
therefore name the backbone and head classes as well as the transformer blocks,
as ``configs/distributed/fsdp_vit.yaml`` does (the tests use its policy): with
the blocks alone, the leftover student and teacher parameters share the root
unit, their slices differ, and the update fails.

Lightning's ``FSDPStrategy`` refuses CPUs, so the tests wrap the method the way
it does (a module whose forward computes the loss, ``use_orig_params=True``) with
torch's ``FullyShardedDataParallel`` on the CPU, train three steps on 2 processes
and compare with the same steps under DDP-style gradient averaging.
"""

from typing import Any

import pytest
import torch
import torch.distributed as dist
from lightly.models.utils import update_momentum
from torch import Tensor, nn
from torch.distributed.fsdp import FullStateDictConfig, StateDictType
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
from torch.distributed.fsdp.wrap import ModuleWrapPolicy
from torchvision.models.vision_transformer import EncoderBlock, VisionTransformer

from lightning_ssl.methods import METHODS, SSLMethod

from .launch import run_on_ranks
from .test_configs import fsdp_wrap_classes

WORLD_SIZE = 2
STEPS = 3
# A low momentum makes the teachers move visibly in three steps.
MOMENTUM = 0.5
CASES: dict[str, dict[str, Any]] = {
    "byol": {"projection_hidden_dim": 16, "projection_dim": 8},
    "dino": {"output_dim": 32, "projection_hidden_dim": 16, "bottleneck_dim": 8},
}


def tiny_vit() -> VisionTransformer:
    """A 2-block torchvision ViT on 16x16 images: `(B, 3, 16, 16)` -> `(B, 16)`."""
    vit = VisionTransformer(
        image_size=16,
        patch_size=4,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        mlp_dim=32,
    )
    vit.heads = nn.Identity()  # the class token's features, no classifier
    return vit


BLOCKS = {EncoderBlock}
# The policy of configs/distributed/fsdp_vit.yaml: blocks, backbones and heads.
MODULES = fsdp_wrap_classes()


class LossModule(nn.Module):
    """The method behind a forward that returns its loss, as Lightning wraps it."""

    def __init__(self, method: SSLMethod) -> None:
        super().__init__()
        self.method = method

    def forward(self, views: list[Tensor]) -> Tensor:
        return self.method.compute_loss(views)["loss"]


def _views(rank: int, world_size: int, step: int) -> list[Tensor]:
    generator = torch.Generator().manual_seed(step)
    views = [torch.randn(8, 3, 16, 16, generator=generator) for _ in range(2)]
    return [view.chunk(world_size)[rank] for view in views]


def train(
    rank: int, world_size: int, case: str, policy: set[type[nn.Module]] | None
) -> dict[str, Tensor]:
    """Three SGD steps and teacher updates; the full state dict at the end.

    ``policy=None`` averages gradients over ranks as DDP does; otherwise the
    model is sharded with FSDP, wrapping the modules of those classes.
    """
    torch.manual_seed(0)
    method = METHODS[case](tiny_vit(), **CASES[case])
    model: nn.Module = LossModule(method)
    if policy is not None:
        model = FSDP(
            model,
            auto_wrap_policy=ModuleWrapPolicy(policy),
            use_orig_params=True,
            device_id=torch.device("cpu"),
        )
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.1)

    for step in range(STEPS):
        model(_views(rank, world_size, step)).backward()
        if policy is None:
            for parameter in trainable:
                assert parameter.grad is not None
                dist.all_reduce(parameter.grad)
                parameter.grad /= world_size
        optimizer.step()
        optimizer.zero_grad()
        for student, teacher in method._teacher_pairs:
            update_momentum(student, teacher, MOMENTUM)

    if policy is None:
        return {f"method.{k}": v.clone() for k, v in method.state_dict().items()}
    config = FullStateDictConfig(rank0_only=False)
    with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, config):
        return {name: value.clone() for name, value in model.state_dict().items()}


@pytest.mark.parametrize("case", list(CASES))
def test_teacher_update_on_identically_sharded_modules(case: str) -> None:
    if case not in METHODS:
        pytest.skip(f"method {case!r} is not implemented yet")
    expected = run_on_ranks(train, case, None, world_size=WORLD_SIZE)[0]
    actual = run_on_ranks(train, case, MODULES, world_size=WORLD_SIZE)[0]

    compared = [
        name
        for name in expected
        if "running_" not in name and "num_batches" not in name
    ]
    assert any(name.startswith("method.teacher_") for name in compared)
    for name in compared:
        torch.testing.assert_close(
            actual[name], expected[name], rtol=1e-5, atol=1e-6, msg=name
        )


def test_teacher_update_fails_when_only_blocks_are_wrapped() -> None:
    with pytest.raises(RuntimeError, match="must match the size"):
        run_on_ranks(train, "byol", BLOCKS, world_size=WORLD_SIZE)
