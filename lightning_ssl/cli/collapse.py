"""``lightning-ssl collapse-report``: diagnose collapse of a trained checkpoint.

Embeds a random subset of evaluation images with the checkpoint's model and
reports, for its features and projections, the health statistics and whether
they show complete or dimensional collapse (the same analysis as the
``CollapseMonitor`` callback runs during training). Example::

    lightning-ssl collapse-report --checkpoint run.ckpt --data cifar10 \\
        --root data/cifar10 --num-samples 2048 --output report.json
"""

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset

from lightning_ssl.metrics.analysis import analyse_checkpoint, random_crop_flip
from lightning_ssl.metrics.diagnosis import CollapseStatus

logger = logging.getLogger(__name__)

DATA_CHOICES = ("fashion_mnist_sample", "cifar10", "image_folder")

# Exit status with --fail-on-collapse when collapse is found; argparse uses 2.
EXIT_COLLAPSED = 3


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``collapse-report``.

    Example:
        >>> args = build_parser().parse_args(
        ...     ["--checkpoint", "run.ckpt", "--data", "cifar10", "--root", "data"]
        ... )
        >>> args.data, args.num_samples, args.output
        ('cifar10', 2048, None)
    """
    parser = argparse.ArgumentParser(
        prog="lightning-ssl collapse-report",
        description=(
            "Diagnose complete or dimensional collapse of a lightning_ssl "
            "checkpoint on a random subset of evaluation images."
        ),
    )
    parser.add_argument(
        "--checkpoint", required=True, type=Path, help="a .ckpt of any method"
    )
    parser.add_argument(
        "--data",
        choices=DATA_CHOICES,
        default="fashion_mnist_sample",
        help=(
            "images to embed: the embedded Fashion-MNIST sample (validation "
            "split), CIFAR-10 (test split) or a folder of images (all of it) "
            "(default: %(default)s)"
        ),
    )
    parser.add_argument(
        "--root", type=Path, help="CIFAR-10 root, or the image folder; required there"
    )
    parser.add_argument(
        "--num-samples",
        type=int,
        default=2048,
        help="images drawn at random from the split (default: %(default)s)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        help="side of the square images; the dataset's default when omitted",
    )
    parser.add_argument(
        "--batch-size", type=int, default=256, help="(default: %(default)s)"
    )
    parser.add_argument(
        "--num-workers", type=int, default=0, help="(default: %(default)s)"
    )
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="(default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the subset and the views (default: %(default)s)",
    )
    parser.add_argument(
        "--no-alignment",
        action="store_true",
        help="skip the alignment statistic, which embeds a second view of each image",
    )
    parser.add_argument("--output", type=Path, help="write the report as JSON here")
    parser.add_argument(
        "--fail-on-collapse",
        action="store_true",
        help=f"exit with status {EXIT_COLLAPSED} when any collapse is found",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``collapse-report`` with ``argv`` (default: the process arguments).

    Prints a summary, writes the JSON report when ``--output`` is given.

    Returns:
        0, or :data:`EXIT_COLLAPSED` with ``--fail-on-collapse`` when the
        checkpoint's embeddings have collapsed.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.num_samples < 2:
        parser.error(f"--num-samples must be at least 2, got {args.num_samples}")
    for name in ("batch_size", "image_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.data != "fashion_mnist_sample" and args.root is None:
        parser.error(f"--data {args.data} needs --root")
    if not args.checkpoint.is_file():
        parser.error(f"--checkpoint not found: {args.checkpoint}")

    loader = _loader(args)
    report = analyse_checkpoint(
        args.checkpoint,
        loader,
        map_location=args.device,
        num_samples=args.num_samples,
        pair_transform=None if args.no_alignment else random_crop_flip,
        seed=args.seed,
    )

    summary = report.to_dict()
    summary.update(
        checkpoint=str(args.checkpoint),
        data=args.data,
        root=None if args.root is None else str(args.root),
    )
    sys.stdout.write(report.summary() + "\n")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(summary, indent=2) + "\n")
        logger.info("Wrote %s", args.output)
    collapsed = report.status is not CollapseStatus.HEALTHY
    return EXIT_COLLAPSED if collapsed and args.fail_on_collapse else 0


def _loader(args: argparse.Namespace) -> DataLoader[Any]:
    """A loader over a random subset of the chosen evaluation images."""
    from lightning_ssl.data import (
        CIFAR10DataModule,
        FashionMNISTSampleDataModule,
        ImageFolderDataModule,
    )

    size = {} if args.image_size is None else {"image_size": args.image_size}
    common = {"num_workers": args.num_workers, "eval_batch_size": args.batch_size}
    if args.data == "fashion_mnist_sample":
        dataset = FashionMNISTSampleDataModule(**size, **common).eval_val_dataset
    elif args.data == "cifar10":
        dataset = CIFAR10DataModule(args.root, **size, **common).eval_val_dataset
    else:
        dataset = ImageFolderDataModule(args.root, **size, **common).eval_train_dataset
    assert dataset is not None  # both datamodules above have a validation split

    generator = torch.Generator().manual_seed(args.seed)
    count = min(args.num_samples, len(dataset))
    indices = torch.randperm(len(dataset), generator=generator)[:count].tolist()
    return DataLoader(
        Subset(dataset, indices),
        batch_size=args.batch_size,
        num_workers=args.num_workers,
    )
