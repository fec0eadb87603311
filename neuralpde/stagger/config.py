"""Configs of the staggered sub-solvers: the model and the training run.

Frozen, validated dataclasses with a JSON round trip.

:class:`StaggerModelConfig` fixes the decomposition and the network;
:class:`StaggerTrainConfig` the loss, the state pool and the optimiser (the
same Adam/AdamW + global-norm clipping + warm-up/cosine recipe as
``neuralpde.training``, with the same field names).
"""

from __future__ import annotations

import dataclasses
import json

from neuralpde.config import (fields_from_dict, require, require_positive, require_positive_int,
                              to_dict)
from neuralpde.training.config import check_optimiser_fields

WEIGHTS = ("shared", "separate", "joint")
EMBEDDINGS = ("learned", "onehot", "none")
VIEWS = ("all", "own")
LOSSES = ("physics", "supervised", "both")
CONVECTIONS = ("van_leer", "central")


@dataclasses.dataclass(frozen=True)
class StaggerModelConfig:
    """The decomposition and the sub-solver network.

    Args:
      s: spatial factor; the fine N² field is split into s² sub-fields on (N/s)².
      s_time: temporal factor s_T; one call advances s_T fine steps, sub-task
        ``k`` producing the frame ``k + 1`` steps ahead.
      hidden, depth, kernel, input_scale: the periodic conv tower of every sub-solver.
      output_scale: the tower output is multiplied by this to give the
        tendency g (an acceleration; ~ the rms of the projected Navier–Stokes
        tendency of the flow, a few units for the Kolmogorov flow), so that
        the tower works with O(1) numbers.
      weights: ``'shared'`` (one tower for all s²·s_T sub-tasks, told apart by
        ``embedding``), ``'separate'`` (one tower per sub-task, run as one
        grouped/vmapped call) or ``'joint'`` (one tower at N/s whose input is
        the whole space-to-depth field and whose output channels are all
        sub-tasks at once: the sub-solvers share every layer but the output
        layer; s²·s_T times fewer FLOPs than 'shared'/'separate').
      embedding: sub-task embedding of shared weights, as constant input
        channels: ``'learned'`` (trainable ``embedding_dim`` numbers per
        sub-task), ``'onehot'`` (fixed, s²·s_T channels) or ``'none'``.
      embedding_dim: channels of a learned embedding.
      view: what a sub-solver sees: ``'all'`` (all s² sub-fields of the current
        frame in its relative view, i.e. the whole fine field) or ``'own'``
        (its own sub-field only: the sub-solvers are independent coarse
        solvers coupled only through the loss).  ``'joint'`` requires ``'all'``.
      forcing_input: add the static forcing field f(0) (split like the
        velocity) as input channels; the towers are translation equivariant
        and cannot know where the Kolmogorov forcing sin(k_f y) is otherwise.
      project: apply the DNS's pressure projection to every rebuilt fine frame
        (exactly divergence-free output; one global FFT solve per frame, so
        the sub-solvers are no longer independent).
    """

    s: int = 2
    s_time: int = 1
    hidden: int = 32
    depth: int = 4
    kernel: int = 3
    input_scale: float = 0.1
    output_scale: float = 10.0
    weights: str = "shared"
    embedding: str = "learned"
    embedding_dim: int = 4
    view: str = "all"
    forcing_input: bool = True
    project: bool = False

    def __post_init__(self):
        require_positive_int("s", self.s)
        require_positive_int("s_time", self.s_time)
        require_positive_int("hidden", self.hidden)
        require(isinstance(self.depth, int) and self.depth >= 0, "depth", self.depth,
                "an integer >= 0")
        require(isinstance(self.kernel, int) and self.kernel >= 1 and self.kernel % 2 == 1,
                "kernel", self.kernel, "an odd integer >= 1")
        require_positive("input_scale", self.input_scale)
        require_positive("output_scale", self.output_scale)
        require(self.weights in WEIGHTS, "weights", self.weights, f"one of {list(WEIGHTS)}")
        require(self.embedding in EMBEDDINGS, "embedding", self.embedding,
                f"one of {list(EMBEDDINGS)}")
        require_positive_int("embedding_dim", self.embedding_dim)
        require(self.view in VIEWS, "view", self.view, f"one of {list(VIEWS)}")
        require(not (self.weights == "joint" and self.view != "all"), "view", self.view,
                "'all' with weights='joint' (one tower sees the whole field)")
        require(isinstance(self.forcing_input, bool), "forcing_input", self.forcing_input, "a bool")
        require(isinstance(self.project, bool), "project", self.project, "a bool")

    @property
    def n_spatial(self) -> int:
        return self.s * self.s

    @property
    def n_subtasks(self) -> int:
        return self.s * self.s * self.s_time


@dataclasses.dataclass(frozen=True)
class StaggerTrainConfig:
    """A training run of the staggered sub-solvers.

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
      div_weight: λ of the divergence term.
      physics_weight: weight of the physics term when ``loss='both'``.
      pool_size: states in the pool.
      warmup_time: pool seeds are random initial conditions advanced by the
        coarse DNS on the fine grid for a uniformly random time in
        [0, warmup_time] (0: the raw random fields, no simulation at all).
      reset_probability: per update, the chance that a batch slot of the pool
        is re-seeded (from the seeds) instead of taking the model's output.
      max_speed: a pool state faster than this (or non-finite) is re-seeded.
      batch_size, steps, optimizer, peak_lr, warmup_fraction, b1, b2, eps,
        weight_decay, clip_norm: as ``neuralpde.training.config.TrainConfig``.
      checkpoint_every, keep_last, log_every, seed: run bookkeeping.
    """

    model: StaggerModelConfig = StaggerModelConfig()
    size: int = 0
    loss: str = "physics"
    convection: str = "van_leer"
    div_weight: float = 1.0
    physics_weight: float = 1e-3
    pool_size: int = 64
    warmup_time: float = 2.0
    reset_probability: float = 0.05
    max_speed: float = 20.0
    batch_size: int = 8
    steps: int = 1000
    optimizer: str = "adam"
    peak_lr: float = 1e-3
    warmup_fraction: float = 0.05
    b1: float = 0.9
    b2: float = 0.98
    eps: float = 1e-8
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    checkpoint_every: int = 250
    keep_last: int = 2
    log_every: int = 25
    seed: int = 0

    def __post_init__(self):
        require(isinstance(self.size, int) and self.size >= 0, "size", self.size,
                "an integer >= 0 (0: the preset's model grid)")
        if self.size:
            require(self.size % self.model.s == 0, "size", self.size,
                    f"a multiple of s={self.model.s}")
        require(self.loss in LOSSES, "loss", self.loss, f"one of {list(LOSSES)}")
        require(self.convection in CONVECTIONS, "convection", self.convection,
                f"one of {list(CONVECTIONS)}")
        require(self.div_weight >= 0, "div_weight", self.div_weight, "a number >= 0")
        require_positive("physics_weight", self.physics_weight)
        require_positive_int("pool_size", self.pool_size)
        require(isinstance(self.warmup_time, (int, float)) and self.warmup_time >= 0,
                "warmup_time", self.warmup_time, "a number >= 0")
        require(0 <= self.reset_probability <= 1, "reset_probability", self.reset_probability,
                "a number in [0, 1]")
        require_positive("max_speed", self.max_speed)
        check_optimiser_fields(self)
        require(self.batch_size <= self.pool_size or self.loss != "physics", "batch_size",
                self.batch_size, f"at most pool_size={self.pool_size}")

    def to_json(self) -> str:
        return json.dumps(to_dict(self), sort_keys=True)


def model_config_from_dict(data: dict) -> StaggerModelConfig:
    return StaggerModelConfig(**fields_from_dict(StaggerModelConfig, data))


def train_config_from_dict(data: dict) -> StaggerTrainConfig:
    kwargs = fields_from_dict(StaggerTrainConfig, data)
    if "model" in kwargs:
        kwargs["model"] = model_config_from_dict(kwargs["model"])
    return StaggerTrainConfig(**kwargs)


def with_overrides(config: StaggerTrainConfig, **fields) -> StaggerTrainConfig:
    """Replace training and model fields by name; ``None`` values are ignored."""
    fields = {k: v for k, v in fields.items() if v is not None}
    model_names = {f.name for f in dataclasses.fields(StaggerModelConfig)}
    model_fields = {k: v for k, v in fields.items() if k in model_names}
    train_fields = {k: v for k, v in fields.items() if k not in model_names}
    fields_from_dict(StaggerTrainConfig, train_fields)  # rejects unknown names
    if model_fields:
        train_fields["model"] = dataclasses.replace(config.model, **model_fields)
    return dataclasses.replace(config, **train_fields)


__all__ = ["WEIGHTS", "EMBEDDINGS", "VIEWS", "LOSSES", "StaggerModelConfig", "StaggerTrainConfig",
           "model_config_from_dict", "train_config_from_dict", "with_overrides"]
