"""Training configs: one base for the loop, one config per learned kind, and their presets.

:class:`LoopConfig` holds what the one training loop
(:mod:`neuralpde.training.loop`) reads for every kind: the optimiser
(global-norm clipping → Adam/AdamW, warm-up + cosine learning rate), the
budget, checkpoints, validation and logging.  Its defaults are the published
protocol of learned interpolation and TSM (Kochkov et al., PNAS 2021; Sun,
Yang & Yoo, ICML 2023): batch 64, Adam(β2 = 0.98, ε = 1e-8) with decoupled
weight decay 1e-4, global-norm clipping 0.25, peak learning rate 1e-3 with
5 % linear warm-up and cosine decay, float32.

* :class:`TrainConfig` — LI and TSM (its ``model``: a learned-stencil config,
  :class:`~neuralpde.models.config.LIConfig`,
  :class:`~neuralpde.models.config.TSMHiPPOConfig` or
  :class:`~neuralpde.models.config.TSMCNNConfig`), trained on windows of a
  train store through ``unroll`` solver steps (published 32 encode frames, 32
  unrolled steps).
* :class:`StaggerTrainConfig` — the staggered sub-solvers
  (:class:`~neuralpde.models.config.StaggerModelConfig`), trained with the
  physics-constrained loss on a state pool, or supervised from a store.

Presets (:func:`get_train_preset`):

* ``paper`` — the published protocol: 6 × 256 tower, 3×3 kernels, order-1
  stencils with the van Leer limiter; 32 unrolled steps, batch 64.
* ``mini`` — the same recipe sized for a 2-core CPU: a 4 × 64 tower, 16 unrolled
  steps, batch 8, 1,000 steps (the width and unroll chosen by the training-budget
  study, experiments/budget_study.sh: each beat the former 4 × 32 tower with 8
  unrolled steps, together by 0.52 ± 0.11 time units of TSM-HiPPO duration on
  the 32 mini test trajectories); TSM-HiPPO memories LegT of order 8 over the
  last 16 frames (not the published LagT of order 256: it needs a 1,027-frame
  history to start from rollout-like memories; at this size the consistent
  LagT memories were level with this one, and it needs only 18 frames;
  measured in docs/tsm.md).
* ``quickstart`` — the demonstration budget of ``neuralpde quickstart``: a
  3 × 16 tower, 120 updates of batch 4, 4 unrolled steps, the ``mini`` memory.

Every LI/TSM preset serves every learned-stencil kind (``--model``), so LI
and TSM are compared at equal training budgets: :data:`TRAIN_PRESETS` holds
the loop, training and tower fields, :data:`TSM_PRESET_FIELDS` the memory of
the TSM kinds, and :func:`get_train_preset` gives the kind's config
(:func:`with_model_kind` turns a config into another kind's).  The staggered
sub-solvers have no published recipe: :data:`STAGGER_TRAIN_PRESETS` holds the
CPU-sized one (``mini``; docs/stagger.md).

Overrides by field name, nested model fields included:
:func:`neuralpde.config.with_fields`; JSON round trip:
:func:`neuralpde.config.to_dict` / :func:`train_config_from_dict` (which also
reads the one ``ModelConfig`` of older run records).
"""

from __future__ import annotations

import dataclasses
import json
import math

from neuralpde.config import (
    ConfigError,
    from_dict,
    require,
    require_positive,
    require_positive_int,
    to_dict,
)
from neuralpde.models.config import (
    STENCIL_CONFIGS,
    LIConfig,
    StaggerModelConfig,
    StencilModelConfig,
)
from neuralpde.physics.operators import CONVECTIONS, TIME_SCHEMES
from neuralpde.store.presets import MAX_SEED

OPTIMIZERS = ("adamw", "adam")
LOSSES = ("mse", "relative_mse")
STAGGER_LOSSES = ("physics", "supervised", "both")
#: Longest DNS run (time units) a pool seed may be given: far past any spin-up, and
#: small enough that the step count stays an ordinary integer.
MAX_POOL_TIME = 1e4
#: Largest step count or batch size: the update counter and the batch's window indices are
#: int32 on the device.
MAX_COUNT = 2 ** 31 - 1
#: What a staggered run's config meant before a field existed (run.json written
#: earlier): the Crank–Nicolson residual and a pool without spin-up.
STAGGER_FIELDS_BEFORE = {"time_scheme": "crank_nicolson", "spinup_time": 0.0}


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """What the training loop reads for every learned kind.

    Args:
      batch_size: windows (or pool states) per update (the global batch), split over the
        devices of every process.
      steps: optimiser updates.
      optimizer: ``'adamw'`` (decoupled weight decay) or ``'adam'``.
      peak_lr: the learning rate reached by the linear warm-up, then decayed
        to 0 by a cosine.
      warmup_fraction: fraction of ``steps`` spent in the linear warm-up.
      b1: Adam's first-moment decay.
      b2: Adam's second-moment decay.
      eps: Adam's epsilon.
      weight_decay: AdamW's decoupled weight decay.
      clip_norm: the global-norm clipping threshold.
      checkpoint_every: save every K steps (and at the end).
      keep_last: checkpoints kept besides the best one.
      validate_every: validation every K steps (0: only at the end); only
        when the run has a validation store.
      validation_samples: validation trajectories rolled out.
      validation_horizon: time units rolled out for validation (at most the
        validation store's span).
      log_every: metrics line every K steps (and after the first and last step).
      seed: initial weights and the order of the training data.
    """

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
    checkpoint_every: int = 1000
    keep_last: int = 3
    validate_every: int = 1000
    validation_samples: int = 4
    validation_horizon: float = 4.0
    log_every: int = 10
    seed: int = 0

    def __post_init__(self):
        for name in ("batch_size", "steps"):  # counted in int32 on the device
            value = getattr(self, name)
            require_positive_int(name, value)
            require(value <= MAX_COUNT, name, value, f"an integer in [1, {MAX_COUNT}]")
        require(self.optimizer in OPTIMIZERS, "optimizer", self.optimizer,
                f"one of {list(OPTIMIZERS)}")
        require_positive("peak_lr", self.peak_lr)
        require(0 <= self.warmup_fraction < 1, "warmup_fraction", self.warmup_fraction, "[0, 1)")
        require(0 <= self.b1 < 1, "b1", self.b1, "[0, 1)")
        require(0 < self.b2 < 1, "b2", self.b2, "(0, 1)")
        require_positive("eps", self.eps)
        require(self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0")
        require_positive("clip_norm", self.clip_norm)
        require_positive_int("checkpoint_every", self.checkpoint_every)
        require_positive_int("keep_last", self.keep_last)
        require(isinstance(self.validate_every, int) and self.validate_every >= 0,
                "validate_every", self.validate_every, "an integer >= 0")
        require_positive_int("validation_samples", self.validation_samples)
        require_positive("validation_horizon", self.validation_horizon)
        require_positive_int("log_every", self.log_every)
        require(isinstance(self.seed, int) and not isinstance(self.seed, bool)
                and 0 <= self.seed <= MAX_SEED, "seed", self.seed,
                f"an integer in [0, {MAX_SEED}]")

    def to_json(self) -> str:
        return json.dumps(to_dict(self), sort_keys=True)


@dataclasses.dataclass(frozen=True)
class TrainConfig(LoopConfig):
    """A training run of learned interpolation or TSM (the loop fields: :class:`LoopConfig`).

    Args:
      model: the model config: its class is the kind (``LIConfig``,
        ``TSMHiPPOConfig``, ``TSMCNNConfig``).
      unroll: solver steps unrolled per window, with gradients through them (M;
        TSM: a multiple of the bundle).
      loss: ``'mse'`` (mean squared u, v error over the unrolled steps) or
        ``'relative_mse'`` (divided by the mean square of the target).
      remat: rematerialise each unrolled solver call in the backward pass
        (:func:`~neuralpde.training.losses.window_loss`): the same loss and
        gradients in far less memory, for about a third more compute per
        update.  On in the ``paper`` preset (32 unrolled steps of a 6 × 256
        tower: per 8 windows 10.3 GB without it, 639 MB with it, as compiled by
        ``neuralpde plan --preset paper --devices 8``), off in the CPU presets.
      train_trajectories: train on the first K trajectories of the train store
        only (0: all of them); for learning curves against the amount of data
        at a fixed update budget (``experiments/learning_curve.sh``).
    """

    model: StencilModelConfig = LIConfig()
    unroll: int = 32
    loss: str = "mse"
    remat: bool = False
    train_trajectories: int = 0

    def __post_init__(self):
        super().__post_init__()
        require(isinstance(self.model, STENCIL_CONFIGS), "model", type(self.model).__name__,
                f"one of {[c.__name__ for c in STENCIL_CONFIGS]}")
        require_positive_int("unroll", self.unroll)
        require(self.loss in LOSSES, "loss", self.loss, f"one of {list(LOSSES)}")
        require(isinstance(self.remat, bool), "remat", self.remat, "True or False")
        require(isinstance(self.train_trajectories, int) and not isinstance(
            self.train_trajectories, bool) and self.train_trajectories >= 0,
            "train_trajectories", self.train_trajectories, "an integer >= 0 (0: all)")
        require(self.unroll % self.model.steps_per_call == 0, "unroll", self.unroll,
                f"a multiple of the TSM bundle {self.model.steps_per_call}")

    @property
    def kind(self) -> str:
        """The run kind: its model config's (``li``, ``tsm-hippo``, ``tsm-cnn``)."""
        return self.model.kind_name


@dataclasses.dataclass(frozen=True)
class StaggerTrainConfig(LoopConfig):
    """A training run of the staggered sub-solvers (the loop fields: :class:`LoopConfig`).

    Args:
      model: the model config.
      size: the fine grid N (0: the preset's model grid; with a store, the
        store's grid).
      loss: ``'physics'`` (the physics-constrained loss on a state pool, no
        simulation data), ``'supervised'`` (mean squared error against the
        s_T next frames of a train store) or ``'both'`` (store windows, both
        terms, the physics term weighted by ``physics_weight``).
      convection: convective operator of the residual (``'van_leer'`` = the
        DNS's; ``'central'``).
      time_scheme: time scheme of the residual (``'forward_euler'`` = the
        DNS's, whose own step is the residual's zero; ``'crank_nicolson'``;
        :mod:`neuralpde.training.losses`).
      div_weight: λ of the divergence term.
      physics_weight: weight of the physics term when ``loss='both'``.
      pool_size: states in the pool.
      spinup_time: pool seeds are random initial conditions advanced by the
        DNS on the training grid for ``spinup_time`` time units (default 40,
        the protocol's warm-up: past the measured spin-up of the mini flow,
        so the pool samples the statistically stationary regime;
        experiments/spinup.py) ...
      warmup_time: ... and then each for a further uniformly random time in
        [0, warmup_time], so the seeds are not in phase (both 0: the raw
        random fields, no simulation at all).
      reset_probability: per update, the chance that a batch slot of the pool
        is re-seeded (from the seeds) instead of taking the model's output.
      max_speed: a pool state faster than this (or non-finite) is re-seeded.
    """

    model: StaggerModelConfig = StaggerModelConfig()
    size: int = 0
    loss: str = "physics"
    convection: str = "van_leer"
    time_scheme: str = "forward_euler"
    div_weight: float = 1.0
    physics_weight: float = 1e-3
    pool_size: int = 64
    spinup_time: float = 40.0
    warmup_time: float = 2.0
    reset_probability: float = 0.05
    max_speed: float = 20.0

    def __post_init__(self):
        super().__post_init__()
        require(isinstance(self.size, int) and self.size >= 0, "size", self.size,
                "an integer >= 0 (0: the preset's model grid)")
        if self.size:
            require(self.size % self.model.s == 0, "size", self.size,
                    f"a multiple of s={self.model.s}")
        require(self.loss in STAGGER_LOSSES, "loss", self.loss, f"one of {list(STAGGER_LOSSES)}")
        require(self.convection in CONVECTIONS, "convection", self.convection,
                f"one of {list(CONVECTIONS)}")
        require(self.div_weight >= 0, "div_weight", self.div_weight, "a number >= 0")
        require_positive("physics_weight", self.physics_weight)
        require_positive_int("pool_size", self.pool_size)
        require(self.time_scheme in TIME_SCHEMES, "time_scheme", self.time_scheme,
                f"one of {list(TIME_SCHEMES)}")
        for name in ("spinup_time", "warmup_time"):
            value = getattr(self, name)
            require(isinstance(value, (int, float)) and math.isfinite(value)
                    and 0 <= value <= MAX_POOL_TIME, name, value,
                    f"a number in [0, {MAX_POOL_TIME:g}] (time units)")
        require(0 <= self.reset_probability <= 1, "reset_probability", self.reset_probability,
                "a number in [0, 1]")
        require_positive("max_speed", self.max_speed)
        require(self.batch_size <= self.pool_size or self.loss != "physics", "batch_size",
                self.batch_size, f"at most pool_size={self.pool_size}")

    @property
    def kind(self) -> str:
        """The run kind: its model config's (``stagger``)."""
        return self.model.kind_name


#: The config classes of the run kinds, by the ``kind`` tag :func:`neuralpde.config.to_dict` writes.
CONFIG_CLASSES = {cls.__name__: cls for cls in (TrainConfig, StaggerTrainConfig)}
#: The tag of the one learned-stencil model config of run records written before the
#: per-kind configs (``run.json`` format 2 and earlier): its ``architecture`` named the kind.
LEGACY_MODEL_TAG = "ModelConfig"


def stencil_config_class(kind: str, label: str = "model") -> type:
    """The learned-stencil config class of the kind ``kind`` (``li``, ``tsm-hippo``, ...).

    Raises :class:`ConfigError` naming ``label`` and every kind otherwise.
    """
    for cls in STENCIL_CONFIGS:
        if cls.kind_name == kind:
            return cls
    kinds = [cls.kind_name for cls in (*STENCIL_CONFIGS, StaggerModelConfig)]
    raise ConfigError(f"invalid {label}={kind!r}: accepted one of {kinds}")


def _legacy_model(data: dict) -> dict:
    """A ``ModelConfig`` dict (one class for LI and TSM; ``architecture`` named the kind) as
    the dict of its kind's config: the fields that kind reads (the others were ignored)."""
    cls = stencil_config_class(data.get("architecture", "li"), "model architecture")
    known = {f.name for config in STENCIL_CONFIGS for f in dataclasses.fields(config)}
    unknown = sorted(set(data) - known - {"kind", "architecture"})
    if unknown:
        raise ConfigError(f"unknown {LEGACY_MODEL_TAG} field(s) {unknown}: accepted "
                          f"{sorted(known | {'architecture'})}")
    names = {f.name for f in dataclasses.fields(cls)}
    return {"kind": cls.__name__, **{k: v for k, v in data.items() if k in names}}


def train_config_from_dict(data: dict):
    """A :class:`TrainConfig` or :class:`StaggerTrainConfig` from its dict (by its ``kind`` tag).

    A dict without a tag is read as a :class:`TrainConfig`; fields added since
    it was written take their defaults, except the staggered fields that
    changed a run's meaning (:data:`STAGGER_FIELDS_BEFORE`: a record without
    them trained the Crank–Nicolson residual on an un-spun pool, and resumes so).
    A model written as the former ``ModelConfig`` (:data:`LEGACY_MODEL_TAG`, or
    untagged) becomes its ``architecture``'s config, keeping the fields that
    kind reads: the model it trained.
    """
    kind = data.get("kind", "TrainConfig") if isinstance(data, dict) else None
    if kind not in CONFIG_CLASSES:
        raise ConfigError(f"unknown training config kind {kind!r}: "
                          f"accepted {sorted(CONFIG_CLASSES)}")
    if CONFIG_CLASSES[kind] is StaggerTrainConfig:
        # a record written before these fields existed trained as they then meant
        data = {**STAGGER_FIELDS_BEFORE, **data}
    model = data.get("model")
    if (CONFIG_CLASSES[kind] is TrainConfig and isinstance(model, dict)
            and model.get("kind", LEGACY_MODEL_TAG) == LEGACY_MODEL_TAG):
        data = {**data, "model": _legacy_model(model)}
    return from_dict(CONFIG_CLASSES[kind], data)


TRAIN_PRESETS = {
    "quickstart": TrainConfig(
        model=LIConfig(hidden=16, depth=3), unroll=4, batch_size=4, steps=120,
        checkpoint_every=40, validate_every=0, validation_samples=2, validation_horizon=1.0,
        log_every=10),
    "paper": TrainConfig(remat=True),
    "mini": TrainConfig(
        model=LIConfig(hidden=64, depth=4), unroll=16, batch_size=8, steps=1000,
        checkpoint_every=100, validate_every=250, validation_samples=2, validation_horizon=8.0),
}
#: The model fields of each training preset that only the TSM kinds have (absent: their
#: defaults, the published values): the ``mini`` memory for ``quickstart`` and ``mini``.
TSM_PRESET_FIELDS = {
    "quickstart": dict(hippo_measure="legt", hippo_order=8, hippo_theta=16.0),
    "mini": dict(hippo_measure="legt", hippo_order=8, hippo_theta=16.0),
}

STAGGER_TRAIN_PRESETS = {
    "mini": StaggerTrainConfig(
        model=StaggerModelConfig(quadratic_input=True, project=True),
        batch_size=8, steps=1000, optimizer="adam", clip_norm=1.0, checkpoint_every=250,
        keep_last=2, validate_every=250, validation_samples=2, validation_horizon=4.0,
        log_every=25),
}


def with_model_kind(config: TrainConfig, kind: str, preset: str | None = None) -> TrainConfig:
    """``config`` training the learned-stencil kind ``kind`` instead.

    The model becomes ``kind``'s config: every field it shares with
    ``config.model`` keeps its value, the fields only ``kind`` has are the
    training preset ``preset``'s (:data:`TSM_PRESET_FIELDS`; None: their
    defaults); the loop and training fields are ``config``'s.
    """
    cls = stencil_config_class(kind)
    if type(config.model) is cls:
        return config
    values = {**(TSM_PRESET_FIELDS.get(preset, {}) if preset else {}),
              **{f.name: getattr(config.model, f.name) for f in dataclasses.fields(config.model)}}
    names = {f.name for f in dataclasses.fields(cls)}
    return dataclasses.replace(config, model=cls(**{k: v for k, v in values.items()
                                                    if k in names}))


def get_train_preset(name: str, kind: str = "li"):
    """The training preset ``name`` for a run kind (``li``/``tsm-*``: :data:`TRAIN_PRESETS`
    with :data:`TSM_PRESET_FIELDS`, ``stagger``: :data:`STAGGER_TRAIN_PRESETS`);
    :class:`ConfigError` for an unknown one."""
    stagger = kind == StaggerModelConfig.kind_name
    presets = STAGGER_TRAIN_PRESETS if stagger else TRAIN_PRESETS
    if name not in presets:
        raise ConfigError(f"unknown training preset {name!r} for {kind}: accepted "
                          f"{sorted(presets)}")
    return presets[name] if stagger else with_model_kind(presets[name], kind, name)


__all__ = ["OPTIMIZERS", "LOSSES", "STAGGER_LOSSES", "MAX_COUNT", "LoopConfig", "TrainConfig",
           "StaggerTrainConfig", "CONFIG_CLASSES", "LEGACY_MODEL_TAG", "stencil_config_class",
           "train_config_from_dict", "TRAIN_PRESETS", "TSM_PRESET_FIELDS",
           "STAGGER_TRAIN_PRESETS", "with_model_kind", "get_train_preset"]
