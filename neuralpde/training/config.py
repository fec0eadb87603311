"""Training configs: the model, the unroll, the optimiser, checkpoints, validation.

Presets:

* ``paper`` — the published protocol (reference/protocol.md §3): 6 × 256 tower,
  3×3 kernels, order-1 stencils with the van Leer limiter; 32 encode frames
  (LI uses only the last), 32 unrolled steps, batch 64, Adam(β2 = 0.98,
  ε = 1e-8) with decoupled weight decay 1e-4, global-norm clipping 0.25, peak
  learning rate 1e-3 with 5 % linear warm-up and cosine decay, float32.
* ``mini`` — the same recipe sized for a 2-core CPU: a 4 × 32 tower, 8 unrolled
  steps, batch 8, 1,000 steps; TSM-HiPPO memories LegT of order 8 over the last
  16 frames (not the published LagT of order 256: at this size LagT N = 32
  lasted ~1.1 time units less, measured in docs/tsm.md).

* ``quickstart`` — the demonstration budget of ``neuralpde quickstart``: a
  3 × 16 tower, 120 updates of batch 4, 4 unrolled steps, the ``mini`` memory (a
  demonstration, not a converged model).

Every preset serves every model kind (``--model li | tsm-hippo | tsm-cnn``), so
LI and TSM are compared at equal training budgets; the TSM fields (prefix 32,
bundle 4, the memory) are ignored by LI.
"""

from __future__ import annotations

import dataclasses
import json

from neuralpde.config import (ConfigError, fields_from_dict, require, require_positive,
                              require_positive_int, to_dict)

MODEL_KINDS = ("li", "tsm-hippo", "tsm-cnn")
HIPPO_MEASURES = ("lagt", "legt", "legs")
FEATURE_NORMS = ("none", "rms")
OPTIMIZERS = ("adamw", "adam")
LOSSES = ("mse", "relative_mse")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The learned-stencil model: LI or TSM.

    Args:
      architecture: ``'li'`` (learned interpolation; input = the current velocity),
        ``'tsm-hippo'`` (temporal stencil modeling, HiPPO memories of the
        history) or ``'tsm-cnn'`` (the last ``prefix`` frames as channels).
      order: polynomial order every stencil reproduces exactly (published 1).
      hidden, depth, kernel: the periodic conv tower (published 256, 6, 3).
      input_scale: inputs are multiplied by this (published 0.1).
      limiter: van Leer TVD limiter on the advected quantity (published on).
      prefix: TSM only: frames encoded before the rollout (K, published 32).
      bundle: TSM only: steps per network call (B, published 4).
      hippo_measure: ``tsm-hippo`` only: ``'lagt'`` (published), ``'legt'``, ``'legs'``.
      hippo_order: ``tsm-hippo`` only: memory order N per cell and component
        (published 256).
      hippo_theta: ``tsm-hippo`` with ``legt``: window in frames (0: ``prefix``).
      feature_norm: TSM only: ``'none'`` (features enter the tower times
        ``input_scale``) or ``'rms'`` (each feature channel is first divided
        by its root mean square over training prefixes, computed when
        training starts and saved in ``run.json``).
      decompose: run the tower on the s² interleaved sub-fields at N/s
        (NeuralStagger-style decomposition, docs/stagger.md; 1 = off).
    """

    architecture: str = "li"
    order: int = 1
    hidden: int = 256
    depth: int = 6
    kernel: int = 3
    input_scale: float = 0.1
    limiter: bool = True
    prefix: int = 32
    bundle: int = 4
    hippo_measure: str = "lagt"
    hippo_order: int = 256
    hippo_theta: float = 0.0
    decompose: int = 1
    feature_norm: str = "none"

    @property
    def temporal(self) -> bool:
        return self.architecture.startswith("tsm")

    def __post_init__(self):
        require(self.architecture in MODEL_KINDS, "model architecture", self.architecture,
                f"one of {list(MODEL_KINDS)}")
        require(isinstance(self.order, int) and 0 <= self.order <= 3, "order", self.order, "0..3")
        require_positive_int("hidden", self.hidden)
        require_positive_int("depth", self.depth)
        require(isinstance(self.kernel, int) and self.kernel % 2 == 1, "kernel", self.kernel,
                "an odd integer >= 1")
        require_positive("input_scale", self.input_scale)
        require_positive_int("prefix", self.prefix)
        require_positive_int("bundle", self.bundle)
        require(self.hippo_measure in HIPPO_MEASURES, "hippo_measure", self.hippo_measure,
                f"one of {list(HIPPO_MEASURES)}")
        require_positive_int("hippo_order", self.hippo_order)
        require(self.hippo_theta >= 0, "hippo_theta", self.hippo_theta, "a number >= 0")
        require_positive_int("decompose", self.decompose)
        require(self.feature_norm in FEATURE_NORMS, "feature_norm", self.feature_norm,
                f"one of {list(FEATURE_NORMS)}")


def check_optimiser_fields(config) -> None:
    """Validate the fields every training config shares (this one's and the stagger one's).

    ``batch_size``, ``steps``, ``optimizer``, ``peak_lr``, ``warmup_fraction``,
    ``b1``, ``b2``, ``eps``, ``weight_decay``, ``clip_norm`` (read by
    :func:`neuralpde.training.optim.make_optimizer`) and the run bookkeeping
    ``checkpoint_every``, ``keep_last``, ``log_every``, ``seed``.
    """
    require_positive_int("batch_size", config.batch_size)
    require_positive_int("steps", config.steps)
    require(config.optimizer in OPTIMIZERS, "optimizer", config.optimizer,
            f"one of {list(OPTIMIZERS)}")
    require_positive("peak_lr", config.peak_lr)
    require(0 <= config.warmup_fraction < 1, "warmup_fraction", config.warmup_fraction, "[0, 1)")
    require(0 <= config.b1 < 1, "b1", config.b1, "[0, 1)")
    require(0 < config.b2 < 1, "b2", config.b2, "(0, 1)")
    require_positive("eps", config.eps)
    require(config.weight_decay >= 0, "weight_decay", config.weight_decay, ">= 0")
    require_positive("clip_norm", config.clip_norm)
    require_positive_int("checkpoint_every", config.checkpoint_every)
    require_positive_int("keep_last", config.keep_last)
    require_positive_int("log_every", config.log_every)
    require(isinstance(config.seed, int) and config.seed >= 0, "seed", config.seed,
            "an integer >= 0")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (besides the data).

    Args:
      model: the model config.
      unroll: solver steps unrolled per window, with gradients through them (M).
      batch_size: windows per update (split over all local devices).
      steps: optimiser updates.
      optimizer: ``'adamw'`` (decoupled weight decay) or ``'adam'``.
      peak_lr, warmup_fraction: linear warm-up to ``peak_lr``, then cosine decay to 0.
      b1, b2, eps, weight_decay, clip_norm: Adam and global-norm clipping.
      loss: ``'mse'`` (mean squared u, v error over the unrolled steps) or
        ``'relative_mse'`` (divided by the mean square of the target).
      checkpoint_every: save every K steps (and at the end).
      keep_last: checkpoints kept besides the best one.
      validate_every: validation every K steps (0: only at the end).
      validation_samples: test trajectories used for validation.
      validation_horizon: time units rolled out for validation.
      log_every: metrics line every K steps.
      seed: initial weights and the order of the windows.
    """

    model: ModelConfig = ModelConfig()
    unroll: int = 32
    batch_size: int = 64
    steps: int = 50_000
    optimizer: str = "adamw"
    peak_lr: float = 1e-3
    warmup_fraction: float = 0.05
    b1: float = 0.9
    b2: float = 0.98
    eps: float = 1e-8
    weight_decay: float = 1e-4
    clip_norm: float = 0.25
    loss: str = "mse"
    checkpoint_every: int = 1000
    keep_last: int = 3
    validate_every: int = 1000
    validation_samples: int = 4
    validation_horizon: float = 4.0
    log_every: int = 10
    seed: int = 0

    def __post_init__(self):
        require_positive_int("unroll", self.unroll)
        require(self.loss in LOSSES, "loss", self.loss, f"one of {list(LOSSES)}")
        check_optimiser_fields(self)
        require(isinstance(self.validate_every, int) and self.validate_every >= 0,
                "validate_every", self.validate_every, "an integer >= 0")
        require_positive_int("validation_samples", self.validation_samples)
        require_positive("validation_horizon", self.validation_horizon)
        if self.model.temporal:
            require(self.unroll % self.model.bundle == 0, "unroll", self.unroll,
                    f"a multiple of the TSM bundle {self.model.bundle}")

    def to_json(self) -> str:
        return json.dumps(to_dict(self), sort_keys=True)


def train_config_from_dict(data: dict) -> TrainConfig:
    kwargs = fields_from_dict(TrainConfig, data)
    if "model" in kwargs:
        kwargs["model"] = ModelConfig(**fields_from_dict(ModelConfig, kwargs["model"]))
    return TrainConfig(**kwargs)


TRAIN_PRESETS = {
    "quickstart": TrainConfig(
        model=ModelConfig(hidden=16, depth=3, hippo_measure="legt", hippo_order=8,
                          hippo_theta=16.0), unroll=4, batch_size=4, steps=120,
        checkpoint_every=40, validate_every=0, validation_samples=2, validation_horizon=1.0,
        log_every=10),
    "paper": TrainConfig(),
    "mini": TrainConfig(
        model=ModelConfig(hidden=32, depth=4, hippo_measure="legt", hippo_order=8,
                          hippo_theta=16.0), unroll=8, batch_size=8, steps=1000,
        checkpoint_every=100, validate_every=250, validation_samples=2, validation_horizon=8.0),
}


def get_train_preset(name: str) -> TrainConfig:
    if name not in TRAIN_PRESETS:
        raise ConfigError(f"unknown training preset {name!r}: accepted {sorted(TRAIN_PRESETS)}")
    return TRAIN_PRESETS[name]


def with_training_overrides(config: TrainConfig, **fields) -> TrainConfig:
    """Replace training fields and model fields (``hidden``, ``depth``, ...); None is ignored."""
    fields = {k: v for k, v in fields.items() if v is not None}
    model_names = {f.name for f in dataclasses.fields(ModelConfig)}
    model_fields = {k: v for k, v in fields.items() if k in model_names}
    train_fields = {k: v for k, v in fields.items() if k not in model_names}
    fields_from_dict(TrainConfig, train_fields)  # rejects unknown names
    if model_fields:
        train_fields["model"] = dataclasses.replace(config.model, **model_fields)
    return dataclasses.replace(config, **train_fields)
