"""`CollapseMonitor`: catch complete and dimensional collapse while training."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor
from typing_extensions import override

from lightning_ssl import keys
from lightning_ssl.metrics.diagnosis import (
    CollapseStatus,
    CollapseThresholds,
    classify,
    describe,
    method_advice,
)
from lightning_ssl.metrics.embedding import EmbeddingHealth
from lightning_ssl.validation import check_choice, check_positive_int

ON_COLLAPSE = ("warn", "stop")

# Fewer samples than this make every statistic too noisy to act on.
MIN_SAMPLES = 16

# Uniformity costs O(N^2); half a million pairs estimate it well enough.
UNIFORMITY_SAMPLES = 1024

# Suffix of the optional step-output entry holding the second view's embeddings
# of a source, e.g. "projections_view1", from which alignment is computed.
PAIR_SUFFIX = "_view1"


class CollapseWarning(UserWarning):
    """Raised once per run when :class:`CollapseMonitor` detects collapse.

    Turn it into an error with ``warnings.simplefilter("error", CollapseWarning)``.
    """


@dataclass(frozen=True)
class Detection:
    """What the monitor found when it raised its alarm.

    Attributes:
        step: Optimizer step of the check that raised it.
        statuses: Status of every monitored source at that check.
        message: The warning text.
        checkpoint_path: Where the run was saved before stopping, if it was.
    """

    step: int
    statuses: dict[str, CollapseStatus]
    message: str
    checkpoint_path: str | None = None


class CollapseMonitor(Callback):
    """Watch the embeddings of training steps for collapse; warn or stop.

    Self-supervised runs can collapse, completely (every input maps to the
    same point) or dimensionally (embeddings span few dimensions), while the
    loss keeps falling smoothly. The monitor keeps a rolling buffer of the
    most recent ``buffer_size`` embeddings that
    :meth:`~lightning_ssl.methods.SSLMethod.training_step` returns (the
    detached ``features`` and ``projections`` of view 0, so no extra forward
    pass), and every ``every_n_steps`` optimizer steps computes their health
    statistics (:class:`~lightning_ssl.metrics.EmbeddingHealth`) and logs them:

    - ``collapse/<source>/<statistic>`` for ``std``, ``rankme``,
      ``active_dims``, ``mean_cosine``, ``uniformity`` (and ``alignment``, see
      below), for each source in ``sources``;
    - ``collapse/rankme``, the features' RankMe, so that
      ``ModelCheckpoint(monitor="collapse/rankme", mode="max")`` keeps the
      checkpoint with the highest effective rank (Garrido et al., 2023, found
      it tracks downstream accuracy); give it ``every_n_train_steps`` equal to
      ``every_n_steps`` (or a multiple) so that it sees fresh values, and
      ``auto_insert_metric_name=False`` with a filename such as
      ``"step={step}-rankme={collapse/rankme:.2f}"``, since the key's slash
      would otherwise make a subfolder;
    - ``collapse/status``: 0 healthy, 1 dimensional, 2 complete collapse (the
      worst source), from the end of the warm-up on.

    After ``warmup_steps`` each check classifies each source with
    :func:`~lightning_ssl.metrics.diagnosis.classify` (thresholds scale with
    the embedding dimension and the buffer size; see
    :class:`~lightning_ssl.metrics.diagnosis.CollapseThresholds`). When a
    source is found collapsed at ``patience`` consecutive checks the monitor
    warns once (:class:`CollapseWarning`), naming the source, the evidence and
    its trend, and the usual causes for the method being trained. With
    ``on_collapse="stop"`` it also saves a checkpoint
    (``collapse-step=<step>.ckpt`` in ``checkpoint_dir``, by default the run's
    log directory) and stops training.

    Cost: copying a `(B, D)` batch into the buffer each step, and every
    ``every_n_steps``, per source, two SVDs of the ``buffer_size`` x D buffer
    and a Gram matrix of 1,024 of its rows (for uniformity) on
    ``compute_device``. ``benchmarks/collapse_overhead.py`` measures it: for
    D = 128 a check of both sources takes about 0.1-0.2 s on one CPU thread,
    under 2 % of the step time of a CPU SimCLR run at the defaults. On fast
    GPU runs with wide embeddings, pass ``compute_device="cuda"`` or check
    less often.

    Under distributed training each process buffers ``buffer_size / world
    size`` of its own samples and the statistics are computed on all of them
    gathered, so every process logs, decides and stops alike.

    Note:
        Alignment needs embeddings of two views of the same images, and the
        step output only holds view 0. It is computed when the output also has
        ``"<source>_view1"`` entries (e.g. ``"projections_view1"``, added by a
        ``compute_loss`` override); otherwise use
        :func:`~lightning_ssl.metrics.analysis.collapse_report` after training.

    Args:
        every_n_steps: Optimizer steps between checks.
        buffer_size: Embeddings kept per source (over all processes).
        on_collapse: ``"warn"`` or ``"stop"`` (warn, save, stop).
        sources: Entries of the step output to monitor.
        warmup_steps: Steps before the first classification, so that a
            network near its initialisation, or in learning-rate warm-up, is
            not judged; statistics are logged from the first check on.
        patience: Consecutive collapsed checks before acting.
        thresholds: Decision thresholds; the defaults when ``None``.
        compute_device: Device of the statistics. The default, the CPU, costs
            one small transfer per check and avoids GPU solvers, which can fail
            to converge on the ill-conditioned matrices of collapsed embeddings.
        checkpoint_dir: Folder of the checkpoint saved on stopping; the
            trainer's ``log_dir`` when ``None``.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        >>> from lightning import Trainer
        >>> from torchvision.datasets import FakeData
        >>> from lightning_ssl.data import SSLDataModule
        >>> from lightning_ssl.methods import SimCLR
        >>> from torchvision.transforms import v2
        >>> to_tensor = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, True)])
        >>> datamodule = SSLDataModule(
        ...     FakeData(64, image_size=(3, 16, 16)),
        ...     transform=lambda image: [to_tensor(image), to_tensor(image)],
        ...     batch_size=16,
        ...     num_workers=0,
        ... )
        >>> model = SimCLR("narrow_resnet18", projection_hidden_dim=32,
        ...                projection_dim=16, optimizer="sgd")
        >>> monitor = CollapseMonitor(every_n_steps=2, warmup_steps=2)
        >>> trainer = Trainer(
        ...     max_steps=4, callbacks=[monitor], logger=False,
        ...     enable_checkpointing=False, enable_progress_bar=False,
        ...     enable_model_summary=False,
        ... )
        >>> trainer.fit(model, datamodule)
        >>> sorted(k for k in trainer.callback_metrics if "rankme" in k)
        ['collapse/features/rankme', 'collapse/projections/rankme', 'collapse/rankme']
    """

    def __init__(
        self,
        every_n_steps: int = 50,
        buffer_size: int = 2048,
        on_collapse: str = "warn",
        sources: Sequence[str] = ("features", "projections"),
        warmup_steps: int = 500,
        patience: int = 2,
        thresholds: CollapseThresholds | None = None,
        compute_device: str | torch.device = "cpu",
        checkpoint_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("every_n_steps", every_n_steps)
        check_positive_int("buffer_size", buffer_size)
        check_choice("on_collapse", on_collapse, ON_COLLAPSE)
        check_positive_int("patience", patience)
        if (
            isinstance(warmup_steps, bool)
            or not isinstance(warmup_steps, int)
            or warmup_steps < 0
        ):
            raise ValueError(
                f"`warmup_steps` must be an int >= 0, got {warmup_steps!r}."
            )
        if (
            isinstance(sources, str)
            or not sources
            or not all(isinstance(source, str) and source for source in sources)
        ):
            raise ValueError(
                "`sources` must be a non-empty sequence of step-output keys such as "
                f"('features', 'projections'), got {sources!r}."
            )
        self.every_n_steps = every_n_steps
        self.buffer_size = buffer_size
        self.on_collapse = on_collapse
        self.sources = tuple(sources)
        self.warmup_steps = warmup_steps
        self.patience = patience
        self.thresholds = thresholds or CollapseThresholds()
        self.compute_device = torch.device(compute_device)
        self.checkpoint_dir = checkpoint_dir

        self.detection: Detection | None = None
        self.history: dict[str, list[dict[str, float]]] = {s: [] for s in sources}
        self.statuses: dict[str, CollapseStatus] = {}
        self._buffers: dict[str, _RingBuffer] = {}
        self._metrics: dict[str, EmbeddingHealth] = {}
        self._streaks: dict[str, int] = dict.fromkeys(self.sources, 0)
        self._capacity = buffer_size
        self._last_check = -1
        self._notified: set[str] = set()

    @property
    @override
    def state_key(self) -> str:
        """Key of this monitor's entry in checkpoints."""
        return self._generate_state_key(sources=self.sources)

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Share the buffer among processes and create the metrics."""
        self._capacity = math.ceil(self.buffer_size / max(trainer.world_size, 1))
        for source in self.sources:
            self._metrics[source] = self._new_metric().to(pl_module.device)

    @override
    def on_train_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Buffer the step's embeddings; every ``every_n_steps`` steps, check."""
        if not isinstance(outputs, Mapping):
            self._notify_once(
                "outputs",
                "CollapseMonitor needs training_step to return a dict with "
                f"{self.sources} (as SSLMethod does), got {type(outputs).__name__}; "
                "nothing is monitored.",
            )
            return
        for source in self.sources:
            embeddings = outputs.get(source)
            if not isinstance(embeddings, Tensor):
                self._notify_once(
                    source,
                    f"CollapseMonitor: the step output has no {source!r} tensor; "
                    f"that source is not monitored.",
                )
                continue
            pairs = outputs.get(source + PAIR_SUFFIX)
            buffer = self._buffers.setdefault(source, _RingBuffer(self._capacity))
            buffer.add(embeddings, pairs if isinstance(pairs, Tensor) else None)

        step = trainer.global_step
        if step > 0 and step % self.every_n_steps == 0 and step != self._last_check:
            self._last_check = step
            self.check(trainer, pl_module, step)

    def check(self, trainer: Trainer, pl_module: LightningModule, step: int) -> None:
        """Compute, log and classify the buffered embeddings of every source.

        Called by the monitor every ``every_n_steps`` steps; under distributed
        training every process must call it together.
        """
        classified = step >= self.warmup_steps
        for source, buffer in self._buffers.items():
            if len(buffer) < MIN_SAMPLES:
                continue
            # Every process computed the same values from the gathered buffers,
            # so logging needs no sync_dist.
            stats = self._compute(source, buffer)
            for name, value in stats.items():
                if name != "num_samples":
                    pl_module.log(keys.collapse(name, source), value, on_step=True)
            if source == "features":
                pl_module.log(keys.COLLAPSE_RANKME, stats["rankme"], on_step=True)

            history = self.history.setdefault(source, [])
            if classified:
                status = classify(
                    stats,
                    dim=buffer.dim,
                    num_samples=int(stats["num_samples"]),
                    thresholds=self.thresholds,
                    rank_history=[entry["rankme"] for entry in history],
                )
                self.statuses[source] = status
                healthy = status is CollapseStatus.HEALTHY
                self._streaks[source] = 0 if healthy else self._streaks[source] + 1
            history.append({"step": float(step), "dim": float(buffer.dim), **stats})
            del history[: -max(self.thresholds.trend_window, 5)]

        if not classified or not self.statuses:
            return
        worst = max(status.code for status in self.statuses.values())
        pl_module.log(keys.COLLAPSE_STATUS, float(worst), on_step=True)
        collapsed = [s for s in self.statuses if self._streaks[s] >= self.patience]
        if collapsed and self.detection is None:
            self._act(trainer, pl_module, step, collapsed)

    def _compute(self, source: str, buffer: "_RingBuffer") -> dict[str, float]:
        metric = self._metrics.get(source)
        if metric is None:
            metric = self._metrics[source] = self._new_metric()
        metric.reset()
        embeddings, pairs = buffer.contents()
        metric.update(embeddings.to(metric.device), _to(pairs, metric.device))
        return {name: float(value) for name, value in metric.compute().items()}

    def _new_metric(self) -> EmbeddingHealth:
        return EmbeddingHealth(
            compute_device=self.compute_device,
            uniformity_samples=UNIFORMITY_SAMPLES,
        )

    def _act(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        step: int,
        collapsed: list[str],
    ) -> None:
        message = self._explain(pl_module, step, collapsed)
        checkpoint_path = None
        if self.on_collapse == "stop":
            folder = Path(self.checkpoint_dir or trainer.log_dir or ".")
            checkpoint_path = str(folder / f"collapse-step={step}.ckpt")
            message += f"\n  Training stopped; checkpoint saved to {checkpoint_path}."
        else:
            message += "\n  Pass on_collapse='stop' to stop such runs automatically."
        # Recorded before saving so that the checkpoint knows it.
        self.detection = Detection(step, dict(self.statuses), message, checkpoint_path)
        rank_zero_warn(message, category=CollapseWarning)
        if checkpoint_path is not None:
            trainer.save_checkpoint(checkpoint_path)
            trainer.should_stop = True

    def _explain(
        self, pl_module: LightningModule, step: int, collapsed: list[str]
    ) -> str:
        """The warning: what collapsed, the evidence and trend, the usual causes."""
        what = " and ".join(
            f"{self.statuses[source].label} of the {source}" for source in collapsed
        )
        lines = [
            f"CollapseMonitor: {what} of {type(pl_module).__name__} at step {step}, "
            f"{self.patience} checks in a row."
        ]
        for source in self.sources:
            history = self.history.get(source)
            if not history or source not in self.statuses:
                continue
            latest = history[-1]
            dim, num_samples = int(latest["dim"]), int(latest["num_samples"])
            evidence = describe(latest, dim, num_samples, self.thresholds)
            line = f"  {source} ({self.statuses[source].label}): {evidence}"
            if source in collapsed:
                trend = " -> ".join(
                    f"{entry['rankme']:.1f}@{int(entry['step'])}"
                    for entry in history[-4:]
                )
                cosines = " -> ".join(
                    f"{entry['mean_cosine']:.3f}" for entry in history[-4:]
                )
                line += f"; RankMe@step: {trend}; mean cosine: {cosines}"
            lines.append(line + ".")
        lines.append(f"  Usual causes: {method_advice(pl_module)}")
        return "\n".join(lines)

    def _notify_once(self, key: str, message: str) -> None:
        if key not in self._notified:
            self._notified.add(key)
            rank_zero_info(message)

    @override
    def state_dict(self) -> dict[str, Any]:
        """History, streaks and any detection, so a resumed run warns no twice."""
        detection = None
        if self.detection is not None:
            detection = {
                "step": self.detection.step,
                "statuses": {k: v.value for k, v in self.detection.statuses.items()},
                "message": self.detection.message,
                "checkpoint_path": self.detection.checkpoint_path,
            }
        return {
            "history": self.history,
            "streaks": dict(self._streaks),
            "detection": detection,
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.history = {k: list(v) for k, v in state_dict.get("history", {}).items()}
        self._streaks.update(state_dict.get("streaks", {}))
        detection = state_dict.get("detection")
        if detection is not None:
            self.detection = Detection(
                step=int(detection["step"]),
                statuses={
                    k: CollapseStatus(v) for k, v in detection["statuses"].items()
                },
                message=detection["message"],
                checkpoint_path=detection["checkpoint_path"],
            )


class _RingBuffer:
    """The most recent ``capacity`` rows of `(B, D)` embeddings, on their device.

    Rows stay where the model produced them, so buffering costs no transfer
    and no synchronisation; order is irrelevant to the statistics.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.dim = 0
        self._data: Tensor | None = None
        self._pairs: Tensor | None = None
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @torch.no_grad()
    def add(self, embeddings: Tensor, pairs: Tensor | None = None) -> None:
        embeddings = embeddings.detach().flatten(1)
        if self._data is None:
            self.dim = embeddings.shape[1]
            self._data = embeddings.new_empty(
                self.capacity, self.dim, dtype=torch.float32
            )
            if pairs is not None:
                self._pairs = torch.empty_like(self._data)
        if embeddings.shape[1] != self.dim:
            raise ValueError(
                f"CollapseMonitor: embeddings changed width from {self.dim} to "
                f"{embeddings.shape[1]} during training."
            )
        if pairs is None or pairs.shape != embeddings.shape:
            # Alignment needs a second view for every buffered row.
            self._pairs = None

        # Write the newest rows at the cursor; those past the end wrap around.
        rows = embeddings[-self.capacity :]
        count = len(rows)
        first = min(count, self.capacity - self._next)
        self._data[self._next : self._next + first] = rows[:first]
        self._data[: count - first] = rows[first:]
        if self._pairs is not None and pairs is not None:
            pair_rows = pairs.detach()[-self.capacity :]
            self._pairs[self._next : self._next + first] = pair_rows[:first]
            self._pairs[: count - first] = pair_rows[first:]
        self._next = (self._next + count) % self.capacity
        self._size = min(self._size + count, self.capacity)

    def contents(self) -> tuple[Tensor, Tensor | None]:
        """The filled rows `(N, D)` and their pairs, if every row has one."""
        assert self._data is not None
        pairs = None if self._pairs is None else self._pairs[: self._size]
        return self._data[: self._size], pairs


def _to(tensor: Tensor | None, device: torch.device) -> Tensor | None:
    return None if tensor is None else tensor.to(device)
