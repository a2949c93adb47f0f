"""Callbacks for a plain ``lightning.Trainer``: evaluation and collapse detection.

All of them work with any :class:`~lightning_ssl.methods.SSLMethod` (through
``embed`` and the outputs of its training and validation steps) and any
datamodule that serves the labelled evaluation loaders.
"""

from lightning_ssl.callbacks.collapse_monitor import (
    CollapseMonitor,
    CollapseWarning,
    Detection,
)
from lightning_ssl.callbacks.embedding_plot import EmbeddingPlot
from lightning_ssl.callbacks.knn import KNNEvaluator
from lightning_ssl.callbacks.linear_probe import LinearProbeEvaluator
from lightning_ssl.callbacks.online_probe import OnlineLinearProbe

__all__ = [
    "CollapseMonitor",
    "CollapseWarning",
    "Detection",
    "EmbeddingPlot",
    "KNNEvaluator",
    "LinearProbeEvaluator",
    "OnlineLinearProbe",
]
