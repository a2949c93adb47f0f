"""Tests of SSLDataModule: batch format, eval loaders, transforms and errors."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from lightly.transforms import DINOTransform
from lightning.pytorch import Callback, LightningModule, Trainer
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import Dataset, Subset
from torchvision.transforms import v2

from lightning_ssl import keys, methods
from lightning_ssl.data import (
    ArrayImageDataset,
    ImageFolderDataset,
    SSLDataModule,
    load_fashion_mnist_sample,
)
from lightning_ssl.transforms import batched_transform_for

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*does not have many workers:UserWarning",
    "ignore:.*log_every_n_steps.*:UserWarning",
)


class TwoViews:
    """Per-sample transform: two random crops of a PIL image, normalised."""

    def __init__(self, size: int) -> None:
        self.view = v2.Compose(
            [
                v2.RandomResizedCrop(size, scale=(0.5, 1.0)),
                v2.RandomHorizontalFlip(),
                v2.ToImage(),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(mean=[0.5], std=[0.25]),
                v2.ToPureTensor(),
            ]
        )

    def __call__(self, image: Image.Image) -> list[Tensor]:
        return [self.view(image), self.view(image)]


class FlipTwice:
    """Batched transform: two normalised, randomly flipped copies of uint8 images."""

    def __init__(self) -> None:
        self.inputs: list[Tensor] = []

    def __call__(self, images: Tensor) -> list[Tensor]:
        self.inputs.append(images)
        images = images.float() / 255
        flip = torch.rand(len(images), 1, 1, 1, device=images.device) < 0.5
        flipped = torch.where(flip, images.flip(-1), images)
        return [(images - 0.5) / 0.25, (flipped - 0.5) / 0.25]


class PlainModel(LightningModule):
    """A minimal model that records its batches; it has no default transforms."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(1, 1)
        self.train_batches: list[Any] = []
        self.val_batches: list[Any] = []

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        self.train_batches.append(batch)
        views, _ = batch
        return self.layer(views[0].mean(dim=(1, 2, 3))[:, None]).mean()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.val_batches.append(batch)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class RecordingModel(PlainModel):
    """PlainModel with the default-transform methods of lightning_ssl's SSLMethod."""

    def __init__(self) -> None:
        super().__init__()
        self.requested: list[tuple[str, int]] = []
        self.batch_transform = FlipTwice()

    def default_transform(self, image_size: int) -> TwoViews:
        self.requested.append(("transform", image_size))
        return TwoViews(image_size)

    def default_batch_transform(self, image_size: int) -> FlipTwice:
        self.requested.append(("batch_transform", image_size))
        return self.batch_transform


def fit(model: LightningModule, datamodule: SSLDataModule, train_batches: int) -> None:
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        limit_train_batches=train_batches,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=datamodule)


def make_datamodule(root: Path, **kwargs: Any) -> SSLDataModule:
    options: dict[str, Any] = {"transform": TwoViews(32), "num_workers": 0}
    return SSLDataModule(root / "train", root / "test", **(options | kwargs))


def save_images(folder: Path, sizes: list[tuple[int, int]]) -> None:
    folder.mkdir(parents=True)
    for index, size in enumerate(sizes):
        Image.new("RGB", size, color=(index * 40, 0, 0)).save(folder / f"{index}.png")


def test_train_batches_are_views_and_targets(cifar10_subset: Path) -> None:
    datamodule = make_datamodule(cifar10_subset, batch_size=64)
    loader = datamodule.train_dataloader()
    views, targets = next(iter(loader))

    assert len(loader) == 300 // 64  # 30 images per class, last batch dropped
    assert len(views) == 2
    for view in views:
        assert view.shape == (64, 3, 32, 32)
        assert view.dtype == torch.float32
    assert targets.shape == (64,)
    assert targets.dtype == torch.long
    assert targets.min() >= 0 and targets.max() <= 9
    assert datamodule.num_classes == 10
    assert (
        datamodule.class_names is not None and datamodule.class_names[0] == "airplane"
    )


def test_drop_last_false_keeps_the_last_batch(cifar10_subset: Path) -> None:
    datamodule = make_datamodule(cifar10_subset, batch_size=64, drop_last=False)
    sizes = [len(targets) for _, targets in datamodule.train_dataloader()]
    assert sizes == [64, 64, 64, 64, 44]


def test_dataset_smaller_than_a_batch_still_trains(cifar10_subset: Path) -> None:
    train = Subset(ImageFolderDataset(cifar10_subset / "train"), range(20))
    datamodule = SSLDataModule(
        train, transform=TwoViews(32), batch_size=64, num_workers=0
    )
    with pytest.warns(UserWarning, match="fewer than one batch.*drop_last"):
        loader = datamodule.train_dataloader()
    assert [len(targets) for _, targets in loader] == [20]


def test_train_shuffle_follows_seed(cifar10_subset: Path) -> None:
    def first_targets(seed: int) -> Tensor:
        datamodule = make_datamodule(cifar10_subset, batch_size=64, seed=seed)
        return next(iter(datamodule.train_dataloader()))[1]

    assert torch.equal(first_targets(0), first_targets(0))
    assert not torch.equal(first_targets(0), first_targets(1))
    assert not torch.equal(first_targets(0), first_targets(0).sort().values)


def test_eval_loaders_are_unshuffled_complete_and_deterministic(
    cifar10_subset: Path,
) -> None:
    datamodule = make_datamodule(cifar10_subset, batch_size=64, eval_batch_size=32)
    expected = torch.tensor(ImageFolderDataset(cifar10_subset / "train").targets)

    for loader_fn, dataset, size in (
        (datamodule.eval_train_dataloader, datamodule.eval_train_dataset, 300),
        (datamodule.eval_val_dataloader, datamodule.eval_val_dataset, 100),
    ):
        first = list(loader_fn())
        second = list(loader_fn())
        targets = torch.cat([batch_targets for _, batch_targets in first])
        assert dataset is not None and torch.equal(targets, dataset.targets)
        assert len(targets) == size
        for (images_a, _), (images_b, _) in zip(first, second, strict=True):
            assert images_a.shape[1:] == (3, 32, 32)
            assert torch.equal(images_a, images_b)
    assert torch.equal(datamodule.eval_train_dataset.targets, expected)

    # Lightning's validation loop reads the same batches.
    val_images, val_targets = next(iter(datamodule.val_dataloader()))
    eval_images, eval_targets = next(iter(datamodule.eval_val_dataloader()))
    assert torch.equal(val_images, eval_images)
    assert torch.equal(val_targets, eval_targets)


def test_eval_images_use_imagenet_normalisation(cifar10_subset: Path) -> None:
    datamodule = make_datamodule(cifar10_subset)
    image, target = datamodule.eval_train_dataset[0]
    raw, raw_target = ImageFolderDataset(cifar10_subset / "train")[0]

    pixels = torch.from_numpy(np.array(raw.convert("RGB"))).permute(2, 0, 1) / 255
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    torch.testing.assert_close(image, (pixels - mean) / std)
    assert target == raw_target


def test_eval_dataset_can_be_subset_by_class(cifar10_subset: Path) -> None:
    dataset = make_datamodule(cifar10_subset).eval_train_dataset
    indices = [int(torch.nonzero(dataset.targets == c)[0]) for c in range(10)]
    subset = Subset(dataset, indices)
    assert [subset[i][1] for i in range(10)] == list(range(10))


@pytest.mark.parametrize(("channels", "expected"), [(3, 3), (1, 1)])
def test_grayscale_images_get_the_requested_channels(
    channels: int, expected: int
) -> None:
    sample = load_fashion_mnist_sample()
    gray = ArrayImageDataset(sample.train_images[:40], sample.train_targets[:40])
    datamodule = SSLDataModule(
        gray, transform=TwoViews(28), channels=channels, batch_size=8, num_workers=0
    )

    views, _ = next(iter(datamodule.train_dataloader()))
    images, targets = next(iter(datamodule.eval_train_dataloader()))
    assert views[0].shape == (8, expected, 28, 28)
    assert images.shape == (8, expected, 28, 28)
    assert torch.equal(targets, torch.from_numpy(sample.train_targets[:8]).long())
    if channels == 3:  # gray replicated into identical RGB channels
        mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
        std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
        pixels = images * std + mean
        torch.testing.assert_close(pixels[:, 0], pixels[:, 1])
        torch.testing.assert_close(pixels[:, 0], pixels[:, 2])


def test_rgb_images_can_be_converted_to_grayscale(cifar10_subset: Path) -> None:
    datamodule = make_datamodule(cifar10_subset, channels=1, eval_batch_size=4)
    images, _ = next(iter(datamodule.eval_val_dataloader()))
    assert images.shape == (4, 1, 32, 32)


class ItemsDataset(Dataset[Any]):
    """Items of a chosen kind: tensors, numpy arrays, bare images, None targets."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int) -> Any:
        if self.kind == "float_tensor":
            return torch.full((3, 16, 16), index / 10), index % 2
        if self.kind == "uint8_numpy":
            return np.full((16, 16, 3), index, dtype=np.uint8)
        if self.kind == "gray_tensor_none_target":
            return torch.full((1, 16, 16), index, dtype=torch.uint8), None
        return Image.new("RGB", (16, 16))


@pytest.mark.parametrize(
    ("kind", "targets"),
    [
        ("float_tensor", [0, 1, 0, 1, 0, 1]),
        ("uint8_numpy", [-1] * 6),
        ("gray_tensor_none_target", [-1] * 6),
        ("bare_pil", [-1] * 6),
    ],
)
def test_datasets_of_any_item_kind(kind: str, targets: list[int]) -> None:
    datamodule = SSLDataModule(
        ItemsDataset(kind), transform=TwoViews(16), batch_size=6, num_workers=0
    )
    views, train_targets = next(iter(datamodule.train_dataloader()))
    images, eval_targets = next(iter(datamodule.eval_train_dataloader()))

    assert [tuple(view.shape) for view in views] == [(6, 3, 16, 16)] * 2
    assert images.shape == (6, 3, 16, 16)
    assert eval_targets.tolist() == targets
    assert sorted(train_targets.tolist()) == sorted(targets)
    assert datamodule.num_classes is None


def test_multi_crop_views_of_different_sizes(cifar10_subset: Path) -> None:
    transform = DINOTransform(global_crop_size=32, local_crop_size=16, n_local_views=2)
    datamodule = make_datamodule(cifar10_subset, transform=transform, batch_size=8)
    views, targets = next(iter(datamodule.train_dataloader()))

    shapes = [tuple(view.shape) for view in views]
    assert shapes == [(8, 3, 32, 32)] * 2 + [(8, 3, 16, 16)] * 2
    assert targets.shape == (8,)


def test_mixed_image_sizes_require_image_size(tmp_path: Path) -> None:
    save_images(tmp_path / "a", [(32, 32), (32, 32)])
    save_images(tmp_path / "b", [(40, 24), (40, 24)])

    for augment_on in ("workers", "device"):
        datamodule = SSLDataModule(
            tmp_path,
            transform=TwoViews(16) if augment_on == "workers" else None,
            batch_transform=FlipTwice() if augment_on == "device" else None,
            augment_on=augment_on,
            batch_size=4,
            num_workers=0,
        )
        with pytest.raises(ValueError, match=r"different sizes.*Set `image_size`"):
            next(iter(datamodule.eval_train_dataloader()))
        if augment_on == "device":
            with pytest.raises(ValueError, match=r"different sizes.*Set `image_size`"):
                next(iter(datamodule.train_dataloader()))

    datamodule = SSLDataModule(
        tmp_path,
        image_size=16,
        augment_on="device",
        batch_transform=FlipTwice(),
        batch_size=4,
        num_workers=0,
    )
    images, _ = next(iter(datamodule.train_dataloader()))
    assert images.shape == (4, 3, 16, 16)
    assert images.dtype == torch.uint8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size must be a positive int; got 0"),
        ({"batch_size": 2.5}, "batch_size must be a positive int; got 2.5"),
        ({"batch_size": True}, "batch_size must be a positive int; got True"),
        ({"eval_batch_size": -1}, "eval_batch_size must be a positive int or None"),
        ({"image_size": 0}, "image_size must be a positive int or None; got 0"),
        ({"num_workers": -2}, r"num_workers must be an int >= 0 or None; got -2"),
        ({"seed": "1"}, "seed must be an int >= 0 or None; got '1'"),
        ({"channels": 2}, r"channels must be one of \(1, 3\); got 2"),
        ({"augment_on": "gpu"}, r"augment_on must be one of \('workers', 'device'\)"),
        ({"train_dataset": None}, "train_dataset is required"),
    ],
)
def test_bad_arguments_are_rejected(
    cifar10_subset: Path, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        SSLDataModule(**({"train_dataset": cifar10_subset / "train"} | kwargs))


def test_missing_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"train_dataset folder .* not exist"):
        SSLDataModule(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"val_dataset folder .* not exist"):
        SSLDataModule(tmp_path, tmp_path / "missing")

    (tmp_path / "empty_class").mkdir()
    _ = (tmp_path / "notes.txt").write_text("not an image")
    datamodule = SSLDataModule(tmp_path, transform=TwoViews(16))
    with pytest.raises(ValueError, match="holds no image"):
        datamodule.train_dataloader()


def test_flat_folder_is_unlabelled(tmp_path: Path) -> None:
    save_images(tmp_path / "flat", [(16, 16)] * 3)
    datamodule = SSLDataModule(tmp_path / "flat", transform=TwoViews(16), num_workers=0)
    assert datamodule.num_classes is None
    assert datamodule.eval_train_dataset.targets.tolist() == [-1, -1, -1]
    assert datamodule.eval_val_dataset is None
    assert datamodule.val_dataloader() == []
    with pytest.raises(ValueError, match="has no validation split"):
        datamodule.eval_val_dataloader()


@pytest.mark.parametrize(
    ("augment_on", "argument"),
    [("workers", "`transform` is required"), ("device", "`batch_transform` is req")],
)
def test_transform_is_required_without_a_model(
    cifar10_subset: Path, augment_on: str, argument: str
) -> None:
    datamodule = SSLDataModule(cifar10_subset / "train", augment_on=augment_on)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=f"{argument}.*no model is being trained"):
        datamodule.train_dataloader()


def test_fit_asks_the_model_for_its_default_transform(cifar10_subset: Path) -> None:
    model = RecordingModel()
    datamodule = make_datamodule(
        cifar10_subset, transform=None, image_size=24, batch_size=16
    )
    fit(model, datamodule, train_batches=2)

    assert model.requested == [("transform", 24)]
    assert len(model.train_batches) == 2
    for views, targets in model.train_batches:
        assert [tuple(view.shape) for view in views] == [(16, 3, 24, 24)] * 2
        assert targets.dtype == torch.long
    images, targets = model.val_batches[0]
    assert images.shape == (16, 3, 24, 24)
    assert images.dtype == torch.float32


class UnimplementedModel(PlainModel):
    """Declares the default transform, like SSLMethod, but has none."""

    def default_transform(self, image_size: int) -> TwoViews:
        raise NotImplementedError("UnimplementedModel has no default transform")


@pytest.mark.parametrize(
    ("model", "image_size", "match"),
    [
        (PlainModel(), 32, "the model PlainModel has no `default_transform` method"),
        (RecordingModel(), None, "or `image_size` must be set.*got image_size=None"),
        (UnimplementedModel(), 32, "required.*UnimplementedModel has no default"),
    ],
)
def test_fit_fails_clearly_without_a_default_transform(
    cifar10_subset: Path, model: LightningModule, image_size: int | None, match: str
) -> None:
    datamodule = make_datamodule(cifar10_subset, transform=None, image_size=image_size)
    with pytest.raises(ValueError, match=match):
        fit(model, datamodule, train_batches=1)


@pytest.mark.parametrize("source", ["argument", "model"])
def test_device_augmentation_runs_after_batch_transfer(
    cifar10_subset: Path, source: str
) -> None:
    model = RecordingModel()
    batch_transform = FlipTwice() if source == "argument" else None
    datamodule = make_datamodule(
        cifar10_subset,
        augment_on="device",
        batch_transform=batch_transform,
        transform=None,
        image_size=32,
        batch_size=16,
    )
    fit(model, datamodule, train_batches=2)

    calls = (batch_transform or model.batch_transform).inputs
    assert len(calls) == 2  # training batches only, not the validation batch
    for images in calls:
        assert images.shape == (16, 3, 32, 32)
        assert images.dtype == torch.uint8
    for views, _ in model.train_batches:
        assert [tuple(view.shape) for view in views] == [(16, 3, 32, 32)] * 2
        assert views[0].dtype == torch.float32
    images, _ = model.val_batches[0]
    assert images.dtype == torch.float32  # eval transform, untouched by the hook
    expected = [("batch_transform", 32)] if source == "model" else []
    assert model.requested == expected


def test_fit_without_validation_split(cifar10_subset: Path) -> None:
    model = PlainModel()
    datamodule = SSLDataModule(
        cifar10_subset / "train", transform=TwoViews(32), batch_size=16, num_workers=0
    )
    fit(model, datamodule, train_batches=1)
    assert len(model.train_batches) == 1
    assert model.val_batches == []


def test_unused_transform_warns(cifar10_subset: Path) -> None:
    with pytest.warns(UserWarning, match="transform is ignored with augment_on='dev"):
        make_datamodule(cifar10_subset, augment_on="device")
    with pytest.warns(UserWarning, match="batch_transform is ignored"):
        make_datamodule(cifar10_subset, batch_transform=FlipTwice())


def test_on_after_batch_transfer_without_trainer() -> None:
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    targets = torch.arange(4)
    dataset = ItemsDataset("bare_pil")

    device = SSLDataModule(dataset, augment_on="device", batch_transform=FlipTwice())
    views, out_targets = device.on_after_batch_transfer((images, targets), 0)
    assert [view.dtype for view in views] == [torch.float32] * 2
    assert out_targets is targets

    workers = SSLDataModule(dataset, transform=TwoViews(8))
    batch = ([images.float()], targets)
    assert workers.on_after_batch_transfer(batch, 0) is batch


class ViewRecorder(Callback):
    """Keeps the training batches as the model receives them, views made."""

    def __init__(self) -> None:
        self.batches: list[Any] = []

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.batches.append(batch)


@pytest.mark.parametrize("method", ["SimCLR", "BYOL", "VICReg", "DINO"])
def test_device_path_asks_lightning_ssl_methods(
    cifar10_subset: Path, tmp_path: Path, method: str
) -> None:
    method_class = getattr(methods, method)
    small_heads = {
        "SimCLR": {"projection_hidden_dim": 32},
        "BYOL": {"projection_hidden_dim": 32},
        "VICReg": {"projection_hidden_dim": 32, "projection_dim": 32},
        "DINO": {"projection_hidden_dim": 32, "bottleneck_dim": 16, "output_dim": 64},
    }
    model = method_class(
        "narrow_resnet18", cifar_stem=True, batch_size=16, **small_heads[method]
    )
    datamodule = make_datamodule(
        cifar10_subset,
        transform=None,
        augment_on="device",
        image_size=32,
        batch_size=16,
        cache=True,
        cache_dir=tmp_path,
    )
    recorder = ViewRecorder()
    trainer = Trainer(
        accelerator="cpu",
        max_steps=2,
        limit_val_batches=0,
        callbacks=[recorder],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=datamodule)

    transform = datamodule._training_transform()
    assert isinstance(transform, batched_transform_for(method))
    assert len(recorder.batches) == 2
    for views, targets in recorder.batches:
        assert len(views) >= 2
        assert [tuple(view.shape) for view in views[:2]] == [(16, 3, 32, 32)] * 2
        assert views[0].dtype == torch.float32
        assert targets.shape == (16,)
    assert torch.isfinite(trainer.callback_metrics[keys.TRAIN_LOSS])
