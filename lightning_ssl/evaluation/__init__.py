"""Evaluation of frozen representations: features, kNN, linear probes, baselines.

Plain functions, usable in notebooks and scripts; the callbacks in
:mod:`lightning_ssl.callbacks` run them during and after training.
"""

from lightning_ssl.evaluation.features import (
    EvaluationDataModule,
    check_evaluation_datamodule,
    extract_features,
    extract_features_distributed,
    loader_over,
    preserved_rng,
    resolve_num_classes,
)
from lightning_ssl.evaluation.knn import knn_accuracy, knn_scores, top_k_accuracies
from lightning_ssl.evaluation.linear import LinearClassifier, train_linear_classifier
from lightning_ssl.evaluation.probe import (
    DEFAULT_FRACTIONS,
    check_fractions,
    linear_probe,
    write_results,
)
from lightning_ssl.evaluation.subsets import few_label_indices
from lightning_ssl.evaluation.supervised import (
    fresh_backbone,
    train_supervised_baseline,
)

__all__ = [
    "DEFAULT_FRACTIONS",
    "EvaluationDataModule",
    "LinearClassifier",
    "check_evaluation_datamodule",
    "check_fractions",
    "extract_features",
    "extract_features_distributed",
    "few_label_indices",
    "fresh_backbone",
    "knn_accuracy",
    "knn_scores",
    "linear_probe",
    "loader_over",
    "preserved_rng",
    "resolve_num_classes",
    "top_k_accuracies",
    "train_linear_classifier",
    "train_supervised_baseline",
    "write_results",
]
