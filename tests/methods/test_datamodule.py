"""Methods train from the package's datamodules with their default transforms."""

from pathlib import Path
from typing import Any

import lightning as L

from lightning_ssl.data import CIFAR10DataModule
from lightning_ssl.methods import DINO


def test_multi_crop_method_trains_from_the_cifar10_datamodule(
    cifar10_subset: Path, tmp_path: Path
) -> None:
    # No transform given: the datamodule asks the model for its multi-crop one.
    model = DINO(
        "narrow_resnet18",
        num_local_views=2,
        projection_hidden_dim=32,
        bottleneck_dim=16,
        output_dim=64,
        warmup_epochs=0.0,
    )
    datamodule = CIFAR10DataModule(cifar10_subset, batch_size=16, num_workers=0)
    outputs: list[Any] = []

    class Recorder(L.Callback):
        def on_validation_batch_end(self, trainer: Any, module: Any, out: Any, *_: Any):
            outputs.append(out)

    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=2,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        val_check_interval=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Recorder()],
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=datamodule)

    assert trainer.global_step == 2
    assert outputs and outputs[0]["features"].shape == (16, model.feature_dim)
