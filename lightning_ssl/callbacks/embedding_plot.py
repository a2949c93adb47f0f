"""`EmbeddingPlot`: a 2-D map of validation embeddings, coloured by class."""

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import WandbLogger
from matplotlib import colormaps
from matplotlib.figure import Figure
from torch import Tensor
from typing_extensions import override

from lightning_ssl import keys
from lightning_ssl.evaluation.features import (
    check_evaluation_datamodule,
    extract_features,
    loader_over,
    preserved_rng,
)
from lightning_ssl.validation import check_choice, check_positive_int

METHODS = ("pca", "umap")


def project_2d(features: Tensor, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Project `(N, D)` features to `(N, 2)` coordinates.

    ``"pca"`` keeps the two leading principal components (randomised, by
    ``torch.pca_lowrank`` with a few extra components for accuracy);
    ``"umap"`` runs UMAP (McInnes et al., 2018), which needs the ``umap-learn``
    package. Torch's global random state is left as it was.

    Args:
        features: `(N, D)` features, ``N >= 2``.
        method: ``"pca"`` or ``"umap"``.
        seed: Seed of the randomised algorithm.

    Returns:
        `(N, 2)` float coordinates.

    Raises:
        ValueError: If ``method`` is unknown.
        ModuleNotFoundError: If ``method="umap"`` and ``umap-learn`` is missing.

    Example:
        >>> import torch
        >>> project_2d(torch.randn(50, 8)).shape
        (50, 2)
    """
    check_choice("method", method, METHODS)
    features = features.detach().float().cpu()
    if method == "umap":
        _check_umap()
        import umap

        reducer = umap.UMAP(n_components=2, random_state=seed)
        return np.asarray(reducer.fit_transform(features.numpy()), dtype=np.float32)

    with preserved_rng():
        torch.manual_seed(seed)
        rank = min(6, *features.shape)
        _, _, components = torch.pca_lowrank(features, q=rank, center=True)
    centered = features - features.mean(0)
    return (centered @ components[:, :2]).numpy()


def _check_umap() -> None:
    if importlib.util.find_spec("umap") is None:
        raise ModuleNotFoundError(
            "`method='umap'` needs the umap-learn package: pip install umap-learn "
            "(or lightning-ssl[umap]); use method='pca' without it."
        )


class EmbeddingPlot(Callback):
    """Save a scatter plot of validation embeddings in 2-D, coloured by class.

    Up to ``max_points`` validation images (a subset drawn with ``seed``, the
    same at every plot) are embedded by the model in eval mode, projected to
    2-D by PCA (default) or UMAP, and drawn with one colour per class. The PNG
    is written to ``<run dir>/embeddings/`` (``trainer.log_dir``) and, when the
    trainer logs to Weights & Biases, logged there as the image
    ``val/embeddings``. It is drawn when training ends and, with
    ``every_n_epochs``, also after every that many epochs. Only process 0
    draws; torch's global random state is left as it was.

    Args:
        every_n_epochs: Also plot after every this many epochs; None plots
            only at the end of training.
        method: ``"pca"`` or ``"umap"`` (needs ``umap-learn``).
        max_points: Most validation images plotted.
        seed: Seed of the image subset and the projection.

    Raises:
        ValueError: If an argument is out of range, or at the start of
            training if the datamodule has no validation split.
        TypeError: At the start of training, if the datamodule does not serve
            the evaluation loaders.
        ModuleNotFoundError: If ``method="umap"`` and ``umap-learn`` is missing.

    Example:
        >>> import tempfile
        >>> from lightning import Trainer
        >>> from torchvision.datasets import FakeData
        >>> from lightning_ssl.data import SSLDataModule
        >>> from lightning_ssl.methods import SimCLR
        >>> model = SimCLR("narrow_resnet18", cifar_stem=True, optimizer="sgd")
        >>> datamodule = SSLDataModule(
        ...     FakeData(16, image_size=(3, 32, 32), num_classes=4),
        ...     FakeData(8, image_size=(3, 32, 32), num_classes=4, random_offset=16),
        ...     image_size=32,
        ...     batch_size=8,
        ...     num_workers=0,
        ... )
        >>> plot = EmbeddingPlot(max_points=500)
        >>> trainer = Trainer(
        ...     max_epochs=1, callbacks=[plot], logger=False, limit_val_batches=0,
        ...     enable_checkpointing=False, enable_progress_bar=False,
        ...     enable_model_summary=False, default_root_dir=tempfile.mkdtemp(),
        ... )
        >>> trainer.fit(model, datamodule)
        >>> [path.name for path in plot.paths]
        ['pca_step000002.png']
    """

    def __init__(
        self,
        every_n_epochs: int | None = None,
        method: str = "pca",
        max_points: int = 2000,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if every_n_epochs is not None:
            check_positive_int("every_n_epochs", every_n_epochs)
        check_choice("method", method, METHODS)
        check_positive_int("max_points", max_points)
        if method == "umap":
            _check_umap()
        self.every_n_epochs = every_n_epochs
        self.method = method
        self.max_points = max_points
        self.seed = seed
        self.paths: list[Path] = []
        self._plotted_at_step: int | None = None

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Check that the datamodule serves the evaluation loaders."""
        if stage == "fit":
            check_evaluation_datamodule(_datamodule(trainer), "EmbeddingPlot")

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Plot every ``every_n_epochs`` epochs."""
        every = self.every_n_epochs
        if every is not None and (trainer.current_epoch + 1) % every == 0:
            self.plot(trainer, pl_module)

    @override
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Plot the final model unless its last epoch was just plotted."""
        if self._plotted_at_step != trainer.global_step:
            self.plot(trainer, pl_module)

    def plot(self, trainer: Trainer, pl_module: LightningModule) -> Path | None:
        """Embed, project, draw and save (on process 0).

        Args:
            trainer: The trainer, whose datamodule serves the validation loader.
            pl_module: The model; its ``embed`` gives the features.

        Returns:
            The PNG written, or None on other processes.
        """
        # log_dir is agreed among processes, so every process must ask for it.
        run_dir = Path(trainer.log_dir or trainer.default_root_dir)
        self._plotted_at_step = trainer.global_step
        if not trainer.is_global_zero:
            return None

        datamodule = _datamodule(trainer)
        loader = datamodule.eval_val_dataloader()
        with preserved_rng(pl_module.device):
            generator = torch.Generator().manual_seed(self.seed)
            size = len(loader.dataset)
            indices = torch.randperm(size, generator=generator)[: self.max_points]
            features, targets = extract_features(
                pl_module,
                loader_over(loader, indices.sort().values.tolist()),
                context=trainer.precision_plugin.forward_context,
            )
        coordinates = project_2d(features, self.method, self.seed)

        step = trainer.global_step
        title = (
            f"{self.method.upper()} of {len(targets)} validation embeddings "
            f"({type(pl_module).__name__}, step {step})"
        )
        figure = draw_embeddings(
            coordinates,
            targets.cpu().numpy(),
            getattr(datamodule, "class_names", None),
            title,
            axis_label="PC" if self.method == "pca" else "UMAP",
        )
        path = run_dir / "embeddings" / f"{self.method}_step{step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=120)
        self.paths.append(path)

        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(keys.VAL_EMBEDDINGS, [str(path)], step=step)
        return path


def draw_embeddings(
    coordinates: np.ndarray,
    targets: np.ndarray,
    class_names: list[str] | None = None,
    title: str = "",
    axis_label: str = "",
) -> Figure:
    """Scatter `(N, 2)` coordinates, one colour per class, with a legend.

    Drawn with matplotlib's object-oriented API, so no GUI backend is needed.

    Args:
        coordinates: `(N, 2)` points.
        targets: `(N,)` class ids; ``-1`` (unknown) is drawn in grey.
        class_names: Names indexed by class id, for the legend.
        title: Figure title.
        axis_label: Name of the axes, numbered 1 and 2 (e.g. ``"PC"``).

    Returns:
        The figure.

    Example:
        >>> import numpy as np
        >>> figure = draw_embeddings(np.zeros((3, 2)), np.array([0, 1, -1]))
        >>> len(figure.axes)
        1
    """
    figure = Figure(figsize=(7.5, 6.0))
    axes = figure.add_subplot()
    classes = sorted(int(label) for label in np.unique(targets))
    # Smaller points for more of them, so that dense plots stay readable.
    point_size = float(np.clip(8000 / max(len(coordinates), 1), 3, 30))
    palette = _palette(max(classes, default=0) + 1)
    for label in classes:
        chosen = targets == label
        name = "unknown" if label < 0 else _class_name(label, class_names)
        color = (0.6, 0.6, 0.6, 1.0) if label < 0 else palette[label]
        axes.scatter(
            coordinates[chosen, 0],
            coordinates[chosen, 1],
            s=point_size,
            alpha=0.7,
            color=color,
            label=name,
            linewidths=0,
        )
    axes.set_title(title, fontsize=9)
    axes.set_xticks([])
    axes.set_yticks([])
    if axis_label:
        axes.set_xlabel(f"{axis_label} 1")
        axes.set_ylabel(f"{axis_label} 2")
    if len(classes) <= 20:
        axes.legend(
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            fontsize=8,
            markerscale=2.5,
            frameon=False,
        )
    figure.tight_layout()
    return figure


def _palette(num_classes: int) -> list[tuple[float, float, float, float]]:
    """Distinct colours: tab10 or tab20 for up to 20 classes, else a gradient."""
    if num_classes <= 10:
        return [colormaps["tab10"](index) for index in range(num_classes)]
    if num_classes <= 20:
        return [colormaps["tab20"](index) for index in range(num_classes)]
    gradient = colormaps["turbo"]
    return [gradient(index / max(num_classes - 1, 1)) for index in range(num_classes)]


def _class_name(label: int, class_names: list[str] | None) -> str:
    if class_names is not None and 0 <= label < len(class_names):
        return str(class_names[label])
    return str(label)


def _datamodule(trainer: Trainer) -> Any:
    """The trainer's datamodule (an attribute Lightning sets at run time)."""
    return getattr(trainer, "datamodule", None)
