"""`OnlineLinearProbe`: learns on detached features, checkpoints, resumes, syncs."""

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_ssl import keys
from lightning_ssl.callbacks.online_probe import OnlineLinearProbe
from lightning_ssl.methods import SimCLR


def _views_collate(batch: list[tuple[Tensor, ...]]) -> tuple[list[Tensor], Tensor]:
    x0, x1, targets = (torch.stack(column) for column in zip(*batch, strict=True))
    return [x0, x1], targets


class ColourData(L.LightningDataModule):
    """Class-coloured 8x8 images with fixed views, unshuffled unless asked.

    Shuffling draws from torch's global generator, so any other draw changes
    the batches.
    """

    def __init__(
        self, num_classes: int = 8, unlabelled: bool = False, shuffle: bool = False
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.shuffle = shuffle
        generator = torch.Generator().manual_seed(0)
        colours = torch.rand(num_classes, 3, 1, 1, generator=generator) * 4 - 2
        self.train = self._images(6 * num_classes, colours, generator)
        self.val = self._images(3 * num_classes, colours, generator)
        noise = 0.1 * torch.randn(self.train[0].shape, generator=generator)
        self.views = (self.train[0], self.train[0].flip(3) + noise)
        self.train_targets = self.train[1].clone()
        if unlabelled:
            self.train_targets.fill_(-1)

    def _images(
        self, size: int, colours: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        targets = torch.arange(size) % self.num_classes
        images = colours[targets] + torch.randn(size, 3, 8, 8, generator=generator)
        return images, targets

    def train_dataloader(self) -> DataLoader[Any]:
        dataset = TensorDataset(*self.views, self.train_targets)
        return DataLoader(
            dataset, batch_size=8, shuffle=self.shuffle, collate_fn=_views_collate
        )

    def val_dataloader(self) -> DataLoader[Any]:
        return self.eval_val_dataloader()

    def eval_train_dataloader(self) -> DataLoader[Any]:
        return DataLoader(TensorDataset(*self.train), batch_size=16)

    def eval_val_dataloader(self) -> DataLoader[Any]:
        return DataLoader(TensorDataset(*self.val), batch_size=16)


def tiny_simclr(seed: int = 0) -> SimCLR:
    torch.manual_seed(seed)
    backbone = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    return SimCLR(
        backbone,
        projection_hidden_dim=16,
        projection_dim=8,
        temperature=0.5,
        optimizer="sgd",
        lr=0.5,
        warmup_epochs=0,
    )


def trainer(**kwargs: Any) -> L.Trainer:
    options: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        **kwargs,
    }
    return L.Trainer(**options)


def test_probe_does_not_change_self_supervised_training() -> None:
    plain, probed = tiny_simclr(), tiny_simclr()
    torch.manual_seed(1)
    trainer(max_steps=6).fit(plain, ColourData(shuffle=True))
    torch.manual_seed(1)
    trainer(max_steps=6, callbacks=[OnlineLinearProbe()]).fit(
        probed, ColourData(shuffle=True)
    )

    trained = plain.state_dict()
    initial = tiny_simclr().state_dict()
    assert not torch.equal(trained["backbone.0.weight"], initial["backbone.0.weight"])
    for name, value in probed.state_dict().items():
        assert torch.equal(value, trained[name]), name


def test_probe_learns_and_logs_its_accuracies() -> None:
    probe = OnlineLinearProbe(lr=0.5)
    run = trainer(max_epochs=4, callbacks=[probe])
    run.fit(tiny_simclr(), ColourData(num_classes=8))

    metrics = run.callback_metrics
    for key in (
        keys.TRAIN_ONLINE_TOP1,
        keys.TRAIN_ONLINE_TOP5,
        keys.VAL_ONLINE_TOP1,
        keys.VAL_ONLINE_TOP5,
        keys.TRAIN_ONLINE_LOSS,
    ):
        assert key in metrics, key
    assert metrics[keys.VAL_ONLINE_TOP1] > 0.5  # chance is 1/8
    assert metrics[keys.VAL_ONLINE_TOP5] >= metrics[keys.VAL_ONLINE_TOP1]
    assert probe.num_classes == 8  # read from the datamodule


def test_top5_is_left_out_with_five_classes_or_fewer() -> None:
    run = trainer(max_epochs=1, callbacks=[OnlineLinearProbe()])
    run.fit(tiny_simclr(), ColourData(num_classes=4))
    assert keys.VAL_ONLINE_TOP1 in run.callback_metrics
    assert keys.VAL_ONLINE_TOP5 not in run.callback_metrics
    assert keys.TRAIN_ONLINE_TOP5 not in run.callback_metrics


def test_unlabelled_samples_do_not_train_the_probe() -> None:
    probe = OnlineLinearProbe()
    trainer(max_steps=4, limit_val_batches=0, callbacks=[probe]).fit(
        tiny_simclr(), ColourData(unlabelled=True)
    )
    assert probe.probe is not None
    assert probe.probe.weight.abs().sum() == 0
    assert probe.probe.bias.abs().sum() == 0


class Killed(Exception):
    """Stands for the process being killed."""


class KillAtEpoch(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        if trainer.current_epoch == self.epoch:
            raise Killed


def test_resumed_probe_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    uninterrupted = OnlineLinearProbe()
    trainer(max_epochs=2, callbacks=[uninterrupted]).fit(tiny_simclr(), ColourData())

    first_half = OnlineLinearProbe()
    checkpoints = ModelCheckpoint(tmp_path, save_top_k=-1, every_n_epochs=1)
    with pytest.raises(Killed):
        trainer(
            max_epochs=2,
            enable_checkpointing=True,
            callbacks=[first_half, checkpoints, KillAtEpoch(1)],
        ).fit(tiny_simclr(), ColourData())
    (checkpoint,) = tmp_path.glob("epoch=0-*.ckpt")

    resumed = OnlineLinearProbe()
    # Another initialisation: everything must come from the checkpoint.
    trainer(max_epochs=2, callbacks=[resumed]).fit(
        tiny_simclr(seed=1), ColourData(), ckpt_path=checkpoint
    )

    assert resumed.probe is not None and uninterrupted.probe is not None
    assert first_half.probe is not None
    assert not torch.equal(first_half.probe.weight, uninterrupted.probe.weight)
    assert torch.equal(resumed.probe.weight, uninterrupted.probe.weight)
    assert torch.equal(resumed.probe.bias, uninterrupted.probe.bias)


def test_checkpoint_holds_weights_and_optimizer_state(tmp_path: Path) -> None:
    probe = OnlineLinearProbe(num_classes=8, lr=0.2)
    run = trainer(max_steps=3, limit_val_batches=0, callbacks=[probe])
    run.fit(tiny_simclr(), ColourData())
    run.save_checkpoint(tmp_path / "run.ckpt")

    assert probe.probe is not None
    state = torch.load(tmp_path / "run.ckpt", weights_only=False)["callbacks"]
    saved = state[probe.state_key]
    assert torch.equal(saved["probe"]["weight"], probe.probe.weight)
    momentum = saved["optimizer"]["state"][0]["momentum_buffer"]
    assert momentum.shape == (8, 16) and momentum.abs().sum() > 0

    restored = OnlineLinearProbe(num_classes=8, lr=0.2)
    restored.load_state_dict(saved)  # kept until the probe is built
    restored.setup(run, run.lightning_module, "fit")
    assert restored.probe is not None
    assert torch.equal(restored.probe.weight, probe.probe.weight)


def test_number_of_classes_is_required() -> None:
    datamodule = ColourData()
    datamodule.num_classes = None  # type: ignore[assignment]
    with pytest.raises(ValueError, match="OnlineLinearProbe needs `num_classes`"):
        trainer(max_steps=1, callbacks=[OnlineLinearProbe()]).fit(
            tiny_simclr(), datamodule
        )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_classes": 0}, "`num_classes` must be a positive integer, got 0"),
        ({"lr": 0.0}, r"`lr` must be in \(0.0, inf\], got 0.0"),
        ({"momentum": 1.5}, r"`momentum` must be in \[0.0, 1.0\], got 1.5"),
    ],
)
def test_arguments_are_checked(arguments: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OnlineLinearProbe(**arguments)  # type: ignore[arg-type]


class SaveProbe(Callback):
    """Writes each rank's probe weights at the end of training."""

    def __init__(self, probe: OnlineLinearProbe, folder: Path) -> None:
        self.probe, self.folder = probe, folder

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        assert self.probe.probe is not None
        state = {k: v.clone() for k, v in self.probe.probe.state_dict().items()}
        torch.save(state, self.folder / f"rank{trainer.global_rank}.pt")


def test_probe_stays_identical_across_ddp_processes(tmp_path: Path) -> None:
    probe = OnlineLinearProbe()
    run = trainer(
        max_steps=3,
        devices=2,
        strategy="ddp_fork",
        limit_val_batches=0,
        callbacks=[probe, SaveProbe(probe, tmp_path)],
    )
    run.fit(tiny_simclr(), ColourData())

    rank0 = torch.load(tmp_path / "rank0.pt")
    rank1 = torch.load(tmp_path / "rank1.pt")
    assert rank0["weight"].abs().sum() > 0
    assert torch.equal(rank0["weight"], rank1["weight"])
    assert torch.equal(rank0["bias"], rank1["bias"])
