"""``lightning-ssl linear-probe``: few-label linear probes of a trained checkpoint.

Loads any lightning_ssl checkpoint, embeds the labelled training and validation
images once, and fits a linear classifier on frozen features for each fraction
of the training labels (class-balanced, seeded subsets), optionally with the
supervised-from-scratch baseline on the same subsets. Example::

    lightning-ssl linear-probe --checkpoint run.ckpt --data cifar10 \\
        --root data/cifar10 --fractions 0.01 0.1 1.0 --output probe.json
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import torch

from lightning_ssl.evaluation.linear import (
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_WEIGHT_DECAY,
)
from lightning_ssl.evaluation.probe import (
    DEFAULT_FRACTIONS,
    check_fractions,
    linear_probe,
    write_results,
)

logger = logging.getLogger(__name__)

DATA_CHOICES = ("fashion_mnist_sample", "cifar10", "image_folder")

OUTPUT_NAME = "linear_probe.json"
"""File name of the results, next to the checkpoint unless ``--output`` is given."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``linear-probe``.

    Example:
        >>> args = build_parser().parse_args(
        ...     ["--checkpoint", "run.ckpt", "--fractions", "0.1", "1"]
        ... )
        >>> args.data, args.fractions, args.epochs, args.output
        ('fashion_mnist_sample', [0.1, 1.0], 100, None)
    """
    parser = argparse.ArgumentParser(
        prog="lightning-ssl linear-probe",
        description=(
            "Fit linear classifiers to the frozen features of a lightning_ssl "
            "checkpoint with a fraction of the training labels, and report their "
            "top-1 accuracy on the validation split."
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
            "labelled images: the embedded Fashion-MNIST sample, CIFAR-10 (train "
            "and test splits) or image folders (--root and --val-root) "
            "(default: %(default)s)"
        ),
    )
    parser.add_argument(
        "--root",
        type=Path,
        help="CIFAR-10 root, or the training image folder; required there",
    )
    parser.add_argument(
        "--val-root",
        type=Path,
        help="labelled validation image folder; required with --data image_folder",
    )
    parser.add_argument(
        "--fractions",
        type=float,
        nargs="+",
        default=list(DEFAULT_FRACTIONS),
        help="fractions of the training labels, each in (0, 1] (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=DEFAULT_EPOCHS,
        help="epochs of each linear classifier (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=DEFAULT_LR,
        help="peak SGD learning rate of the classifiers (default: %(default)s)",
    )
    parser.add_argument(
        "--weight-decay",
        type=float,
        default=DEFAULT_WEIGHT_DECAY,
        help="SGD weight decay of the classifiers (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the label subsets and the training (default: %(default)s)",
    )
    parser.add_argument(
        "--supervised-baseline",
        action="store_true",
        help="also train the backbone architecture from scratch on each subset",
    )
    parser.add_argument(
        "--supervised-epochs",
        type=int,
        default=30,
        help="epochs of each supervised baseline (default: %(default)s)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        help="side of the square images; the dataset's default when omitted",
    )
    parser.add_argument(
        "--channels",
        type=int,
        choices=(1, 3),
        default=3,
        help="image channels the model expects (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=256,
        help="images per embedding batch (default: %(default)s)",
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
        "--output",
        type=Path,
        help=f"JSON file of the results (default: {OUTPUT_NAME} beside the checkpoint)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``linear-probe`` with ``argv`` (default: the process arguments).

    Prints one line per accuracy and writes the JSON results
    (``{"metrics": ..., "settings": ...}``).

    Returns:
        0 on success; argument errors exit with status 2, as argparse does.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_arguments(parser, args)

    from lightning_ssl.methods import load_method

    try:
        model = load_method(args.checkpoint, map_location=args.device)
        datamodule = build_datamodule(args)
        metrics = linear_probe(
            model,
            datamodule,
            args.fractions,
            epochs=args.epochs,
            lr=args.lr,
            weight_decay=args.weight_decay,
            seed=args.seed,
            supervised_baseline=args.supervised_baseline,
            supervised_epochs=args.supervised_epochs,
        )
    except (FileNotFoundError, ValueError, TypeError) as error:
        parser.error(str(error))

    output = args.output or args.checkpoint.parent / OUTPUT_NAME
    settings = {
        key: str(value) if isinstance(value, Path) else value
        for key, value in vars(args).items()
    }
    write_results(output, metrics, settings)
    lines = [f"{name}: {value:.4f}" for name, value in metrics.items()]
    sys.stdout.write("\n".join([*lines, f"Results: {output}"]) + "\n")
    return 0


def _check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    try:
        args.fractions = list(check_fractions(args.fractions))
    except ValueError as error:
        parser.error(str(error))
    for name in ("epochs", "supervised_epochs", "batch_size", "image_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.num_workers < 0:
        parser.error(f"--num-workers must be >= 0, got {args.num_workers}")
    if args.data != "fashion_mnist_sample" and args.root is None:
        parser.error(f"--data {args.data} needs --root")
    if args.data == "image_folder" and args.val_root is None:
        parser.error(
            "--data image_folder needs --val-root (labelled validation images)"
        )
    if not args.checkpoint.is_file():
        parser.error(f"--checkpoint not found: {args.checkpoint}")


def build_datamodule(args: argparse.Namespace) -> Any:
    """The datamodule serving the labelled images that ``args`` choose.

    Example:
        >>> args = build_parser().parse_args(["--checkpoint", "run.ckpt"])
        >>> type(build_datamodule(args)).__name__
        'FashionMNISTSampleDataModule'
    """
    from lightning_ssl.data import (
        CIFAR10DataModule,
        FashionMNISTSampleDataModule,
        ImageFolderDataModule,
    )

    options: dict[str, Any] = {
        "num_workers": args.num_workers,
        "eval_batch_size": args.batch_size,
        "channels": args.channels,
    }
    if args.image_size is not None:
        options["image_size"] = args.image_size
    if args.data == "fashion_mnist_sample":
        return FashionMNISTSampleDataModule(**options)
    if args.data == "cifar10":
        return CIFAR10DataModule(args.root, **options)
    return ImageFolderDataModule(args.root, args.val_root, **options)
