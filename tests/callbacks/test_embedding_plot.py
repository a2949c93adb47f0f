"""`EmbeddingPlot`: PNGs in the run folder and in W&B, PCA, legends."""

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import WandbLogger
from PIL import Image

from lightning_ssl.callbacks.embedding_plot import (
    EmbeddingPlot,
    draw_embeddings,
    project_2d,
)
from lightning_ssl.data import CIFAR10DataModule
from lightning_ssl.methods import SimCLR


def cifar_datamodule(root: Path) -> CIFAR10DataModule:
    return CIFAR10DataModule(root, batch_size=10, eval_batch_size=100, num_workers=0)


def small_model() -> SimCLR:
    torch.manual_seed(0)
    return SimCLR(
        "narrow_resnet18",
        backbone_kwargs={"width": 8},
        projection_hidden_dim=32,
        optimizer="sgd",
    )


def trainer(**kwargs: Any) -> L.Trainer:
    options: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "max_epochs": 1,
        "limit_train_batches": 2,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "limit_val_batches": 0,
        **kwargs,
    }
    return L.Trainer(**options)


def test_plot_of_cifar10_is_saved_in_the_run_folder(
    cifar10_subset: Path, tmp_path: Path
) -> None:
    plot = EmbeddingPlot(max_points=80)
    run = trainer(callbacks=[plot], default_root_dir=tmp_path)
    run.fit(small_model(), cifar_datamodule(cifar10_subset))

    (path,) = plot.paths
    assert path == Path(str(run.log_dir)) / "embeddings" / "pca_step000002.png"
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape == (720, 900, 3)  # 7.5 x 6 inches at 120 dpi
    # Coloured points, not a blank canvas: tab10's blue, orange, green...
    colours = {tuple(pixel) for pixel in image.reshape(-1, 3)[::7].tolist()}
    assert len(colours) > 50
    shutil.copy(path, tmp_path.parent / "embedding_plot_cifar10.png")  # to look at


@pytest.mark.parametrize(("every_n_epochs", "plots"), [(None, 1), (1, 2)])
def test_plots_every_n_epochs_and_once_at_the_end(
    cifar10_subset: Path, tmp_path: Path, every_n_epochs: int | None, plots: int
) -> None:
    plot = EmbeddingPlot(every_n_epochs=every_n_epochs, max_points=20)
    trainer(
        callbacks=[plot],
        max_epochs=2,
        limit_train_batches=1,
        default_root_dir=tmp_path,
    ).fit(small_model(), cifar_datamodule(cifar10_subset))
    assert [path.name for path in plot.paths][-1] == "pca_step000002.png"
    assert len(plot.paths) == plots


def test_plot_is_logged_to_weights_and_biases(
    cifar10_subset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = WandbLogger(save_dir=tmp_path, offline=True, project="lightning-ssl-test")
    try:
        trainer(callbacks=[EmbeddingPlot(max_points=30)], logger=logger).fit(
            small_model(), cifar_datamodule(cifar10_subset)
        )
    finally:
        wandb.finish()

    (run_dir,) = tmp_path.glob("wandb/offline-run-*")
    images = list((run_dir / "files" / "media" / "images").rglob("*.png"))
    assert len(images) == 1
    assert (
        images[0].relative_to(run_dir / "files" / "media" / "images").parts[0] == "val"
    )
    assert images[0].name.startswith("embeddings")


def test_pca_keeps_the_two_leading_components() -> None:
    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(300, 2, generator=generator) * torch.tensor([10.0, 5.0])
    basis = torch.linalg.qr(torch.randn(16, 16, generator=generator))[0][:, :2]
    features = latent @ basis.T + 0.1 * torch.randn(300, 16, generator=generator) + 3

    coordinates = torch.from_numpy(project_2d(features))

    # Exact PCA by singular value decomposition; components have arbitrary signs.
    centered = features - features.mean(0)
    exact = centered @ torch.linalg.svd(centered, full_matrices=False)[2][:2].T
    for axis in range(2):
        pair = torch.stack([coordinates[:, axis], exact[:, axis]])
        assert torch.corrcoef(pair)[0, 1].abs() > 0.99999


def test_projection_is_reproducible_and_leaves_the_random_state_alone() -> None:
    features = torch.randn(50, 8)
    torch.manual_seed(0)
    expected = torch.rand(2)
    torch.manual_seed(0)
    first = project_2d(features, seed=1)
    assert torch.equal(torch.rand(2), expected)
    np.testing.assert_array_equal(first, project_2d(features, seed=1))


def test_legend_names_the_classes_and_unknown_points() -> None:
    coordinates = np.random.default_rng(0).normal(size=(6, 2))
    figure = draw_embeddings(
        coordinates, np.array([0, 1, 2, 2, -1, 0]), ["a", "b", "c"]
    )
    legend = figure.axes[0].get_legend()
    assert legend is not None
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels == ["unknown", "a", "b", "c"]


def test_many_classes_are_drawn_without_legend() -> None:
    figure = draw_embeddings(np.zeros((30, 2)), np.arange(30))
    assert figure.axes[0].get_legend() is None


@pytest.mark.skipif(
    importlib.util.find_spec("umap") is not None, reason="umap-learn is installed"
)
def test_umap_without_the_package_is_a_clear_error() -> None:
    with pytest.raises(ModuleNotFoundError, match="pip install umap-learn"):
        EmbeddingPlot(method="umap")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"method": "tsne"}, r"`method` must be one of \('pca', 'umap'\), got 'tsne'"),
        ({"max_points": 0}, "`max_points` must be a positive integer, got 0"),
        ({"every_n_epochs": 0}, "`every_n_epochs` must be a positive integer, got 0"),
    ],
)
def test_arguments_are_checked(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EmbeddingPlot(**arguments)
