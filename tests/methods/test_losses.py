"""Method losses against naive references, and the state each method keeps."""

import math

import pytest
import torch
from lightly.loss import BarlowTwinsLoss
from lightly.loss.dcl_loss import negative_mises_fisher_weights
from torch import Tensor
from torch.nn import functional as F

from lightning_ssl.methods import NNCLR, MoCo, MoCoV3, SimCLR, SwAV
from lightning_ssl.methods.barlow_twins import GlobalBarlowTwinsLoss
from lightning_ssl.methods.simclr import LOSSES, global_mises_fisher_weights

HEAD = {"backbone": "narrow_resnet18", "projection_hidden_dim": 16}


def naive_info_nce(
    q: Tensor, k: Tensor, negatives: Tensor, temperature: float
) -> float:
    """Mean over queries of -log softmax of the positive among [k, negatives]."""
    total = 0.0
    for query, key in zip(F.normalize(q, dim=1), k, strict=True):
        logits = [float(query @ key) / temperature]
        logits += [float(query @ negative) / temperature for negative in negatives]
        total -= logits[0] - math.log(sum(math.exp(logit) for logit in logits))
    return total / len(q)


def test_moco_info_nce_matches_a_naive_loop() -> None:
    torch.manual_seed(0)
    model = MoCo(**HEAD, projection_dim=8, queue_size=16, temperature=0.2)
    q, k = torch.randn(5, 8), F.normalize(torch.randn(5, 8), dim=1)
    # An empty queue has no negatives: the positive is the only logit.
    assert float(model.info_nce(q, k)) == pytest.approx(0.0, abs=1e-6)

    # Written slots are the negatives; the unwritten ones are left out.
    model.queue.push(F.normalize(torch.randn(6, 8), dim=1))
    expected = naive_info_nce(q, k, model.queue.features[:6], 0.2)
    assert float(model.info_nce(q, k)) == pytest.approx(expected, rel=1e-5)

    # Once the queue is full, every slot is.
    model.queue.push(F.normalize(torch.randn(10, 8), dim=1))
    assert bool(model.queue.full)
    expected = naive_info_nce(q, k, model.queue.features, 0.2)
    assert float(model.info_nce(q, k)) == pytest.approx(expected, rel=1e-5)


def test_moco_enqueues_the_keys_of_each_batch() -> None:
    model = MoCo(**HEAD, projection_dim=8, queue_size=16, symmetric=True)
    model.compute_loss([torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)])
    # Symmetric: the keys of both views join the queue.
    assert int(model.queue.bank_ptr) == 8
    assert torch.allclose(model.queue.features[:8].norm(dim=1), torch.ones(8))


def test_moco_v3_loss_matches_a_naive_loop() -> None:
    torch.manual_seed(0)
    model = MoCoV3(**HEAD, projection_dim=8, temperature=0.5)
    p, k = torch.randn(6, 8), torch.randn(6, 8)
    # In-batch negatives: every other key of the batch.
    expected = (
        sum(
            naive_info_nce(
                p[i : i + 1],
                F.normalize(k, dim=1)[i : i + 1],
                F.normalize(torch.cat([k[:i], k[i + 1 :]]), dim=1),
                0.5,
            )
            for i in range(6)
        )
        / 6
        * (2 * 0.5)
    )
    assert float(model.contrastive_loss(p, k)) == pytest.approx(expected, rel=1e-5)


def test_nnclr_positives_come_from_the_support_set() -> None:
    model = NNCLR(
        **HEAD, projection_dim=8, prediction_hidden_dim=8, support_set_size=32
    )
    model.compute_loss([torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)])
    queries = torch.randn(3, 8)
    neighbours = model.support_set.nearest_neighbours(queries)
    bank = model.support_set.features
    assert all(any(torch.equal(row, entry) for entry in bank) for row in neighbours)
    assert int(model.support_set.bank_ptr) == 4


def test_swav_uses_its_queue_once_full_and_started() -> None:
    model = SwAV(**HEAD, num_prototypes=8, queue_length=16, queue_start_epoch=0)
    views = [torch.randn(8, 3, 32, 32)] * 2 + [torch.randn(8, 3, 16, 16)] * 2
    assert model.queue_scores() is None
    model.compute_loss(views)
    assert model.queue_scores() is None  # 8 of 16 slots written
    model.compute_loss(views)
    scores = model.queue_scores()
    assert scores is not None and [s.shape for s in scores] == [(16, 8)] * 2


def test_swav_prototypes_stay_on_the_unit_sphere() -> None:
    model = SwAV(**HEAD, num_prototypes=8)
    weight = model.prototypes.heads[0].weight
    with torch.no_grad():
        weight.mul_(3.0)
    model.prototypes.normalize()
    assert torch.allclose(weight.norm(dim=1), torch.ones(8))


@pytest.mark.parametrize("loss", LOSSES)
def test_simclr_loss_options(loss: str) -> None:
    model = SimCLR(**HEAD, projection_dim=8, loss=loss)
    expected = {"ntxent": "NTXentLoss", "dcl": "DCLLoss", "dclw": "DCLLoss"}
    assert type(model.criterion).__name__ == expected[loss]
    assert (getattr(model.criterion, "weight_fn", None) is not None) == (loss == "dclw")
    views = [torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)]
    assert torch.isfinite(model.compute_loss(views)["loss"])


def test_dclw_weights_match_lightly_on_one_process() -> None:
    z0, z1 = (
        F.normalize(torch.randn(6, 8), dim=1),
        F.normalize(torch.randn(6, 8), dim=1),
    )
    expected = negative_mises_fisher_weights(z0, z1, sigma=0.5)
    assert torch.allclose(global_mises_fisher_weights(z0, z1, sigma=0.5), expected)


def test_barlow_twins_loss_matches_lightly_on_one_process() -> None:
    z_a, z_b = torch.randn(16, 8), torch.randn(16, 8)
    expected = BarlowTwinsLoss(lambda_param=5e-3)(z_a, z_b)
    actual = GlobalBarlowTwinsLoss(lambda_param=5e-3)(z_a, z_b)
    assert torch.allclose(actual, expected, rtol=1e-5)


def test_simclr_rejects_unknown_losses() -> None:
    with pytest.raises(ValueError, match=r"`loss` must be one of .*'infonce'"):
        SimCLR(**HEAD, loss="infonce")
