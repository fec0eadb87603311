"""Configs of the learned models: frozen, validated dataclasses with a JSON round trip.

One config class per learned kind, each naming its kind (``kind_name``, the
``kind`` of a run folder and the ``--model`` of ``neuralpde train``) and tagged
by its class name in ``run.json`` (:func:`neuralpde.config.to_dict`):

* :class:`LIConfig` — learned interpolation (LI, Kochkov et al., PNAS 2021);
* :class:`TSMHiPPOConfig`, :class:`TSMCNNConfig` — temporal stencil modeling
  (TSM, Sun, Yang & Yoo, ICML 2023) with HiPPO memories or the last frames as
  channels (their shared fields: :class:`TSMConfig`);
* :class:`StaggerModelConfig` — the staggered sub-solvers (NeuralStagger-style
  spatial/temporal decomposition, Huang et al., ICML 2023); no published
  network exists, so its defaults are this package's CPU-sized choices
  (docs/stagger.md).

The learned-stencil configs (:data:`STENCIL_CONFIGS`) share the tower and
stencil fields of :class:`StencilConfig`; their defaults are the published
ones.  Run records written before the per-kind classes existed hold one
``ModelConfig`` with an ``architecture`` field;
:func:`neuralpde.training.config.train_config_from_dict` reads them into these.
Every field is checked in ``__post_init__`` and a bad value raises
:class:`~neuralpde.config.ConfigError` naming it and the accepted range.

What each kind's solver, training task and checkpoints are is the table of
learned kinds, :mod:`neuralpde.training.kinds`.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import ClassVar

from neuralpde.config import ConfigError, require, require_positive, require_positive_int
from neuralpde.models.hippo import MEASURES as HIPPO_MEASURES

FEATURE_NORMS = ("none", "rms")
#: ``StaggerModelConfig`` choices.
WEIGHTS = ("shared", "separate", "joint")
EMBEDDINGS = ("learned", "onehot", "none")
VIEWS = ("all", "own")


@dataclasses.dataclass(frozen=True)
class StencilConfig:
    """The fields every learned-stencil model reads: its periodic conv tower and its stencils.

    Not a kind itself: the kinds are its subclasses (:data:`STENCIL_CONFIGS`).

    Args:
      order: polynomial order every stencil reproduces exactly (published 1).
      hidden: channels per hidden layer of the periodic conv tower (published 256).
      depth: layers of the tower (published 6).
      kernel: kernel size of the tower (published 3).
      input_scale: inputs are multiplied by this (published 0.1).
      limiter: van Leer TVD limiter on the advected quantity (published on).
      decompose: run the tower on the s² interleaved sub-fields at N/s
        (NeuralStagger-style decomposition, docs/stagger.md; 1 = off).
    """

    #: The kind this config describes (``run.json``'s ``kind``, ``--model``).
    kind_name: ClassVar[str] = ""

    order: int = 1
    hidden: int = 256
    depth: int = 6
    kernel: int = 3
    input_scale: float = 0.1
    limiter: bool = True
    decompose: int = 1

    def __post_init__(self):
        if not type(self).kind_name:
            raise ConfigError(f"{type(self).__name__} is the base of the learned-stencil "
                              f"configs, not a kind: use one of "
                              f"{[c.__name__ for c in STENCIL_CONFIGS]}")
        require(isinstance(self.order, int) and 0 <= self.order <= 3, "order", self.order, "0..3")
        require_positive_int("hidden", self.hidden)
        require_positive_int("depth", self.depth)
        require(isinstance(self.kernel, int) and self.kernel % 2 == 1, "kernel", self.kernel,
                "an odd integer >= 1")
        require_positive("input_scale", self.input_scale)
        require_positive_int("decompose", self.decompose)

    @property
    def window_prefix(self) -> int:
        """Frames a training window (and a rollout) starts from: 1, the current velocity."""
        return 1

    @property
    def steps_per_call(self) -> int:
        """Model steps one network call advances (one solver step): 1."""
        return 1


@dataclasses.dataclass(frozen=True)
class LIConfig(StencilConfig):
    """Learned interpolation: the stencil network reads the current velocity.

    Its fields are those of :class:`StencilConfig`.
    """

    kind_name: ClassVar[str] = "li"


@dataclasses.dataclass(frozen=True)
class TSMConfig(StencilConfig):
    """The fields every TSM kind reads besides :class:`StencilConfig`'s; not a kind itself.

    Args:
      prefix: frames encoded before the rollout (K, published 32).
      bundle: steps per network call (B, published 4).
      feature_norm: ``'none'`` (features enter the tower times ``input_scale``)
        or ``'rms'`` (each feature channel is first divided by its root mean
        square over training prefixes, computed when training starts and saved
        in ``run.json``).
    """

    prefix: int = 32
    bundle: int = 4
    feature_norm: str = "none"

    def __post_init__(self):
        super().__post_init__()
        require_positive_int("prefix", self.prefix)
        require_positive_int("bundle", self.bundle)
        require(self.feature_norm in FEATURE_NORMS, "feature_norm", self.feature_norm,
                f"one of {list(FEATURE_NORMS)}")

    @property
    def window_prefix(self) -> int:
        """Frames a training window (and a rollout) starts from: the ``prefix`` encoded."""
        return self.prefix

    @property
    def steps_per_call(self) -> int:
        """Model steps one network call advances: the ``bundle``."""
        return self.bundle


@dataclasses.dataclass(frozen=True)
class TSMHiPPOConfig(TSMConfig):
    """TSM with HiPPO memories of the history (:mod:`neuralpde.models.hippo`).

    Its fields are those of :class:`TSMConfig` and:

    Args:
      hippo_measure: ``'lagt'`` (published), ``'legt'`` or ``'legs'``.
      hippo_order: memory order N per cell and component (published 256).
      hippo_theta: with ``legt``: window in frames (0: ``prefix``).
    """

    kind_name: ClassVar[str] = "tsm-hippo"

    hippo_measure: str = "lagt"
    hippo_order: int = 256
    hippo_theta: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        require(self.hippo_measure in HIPPO_MEASURES, "hippo_measure", self.hippo_measure,
                f"one of {list(HIPPO_MEASURES)}")
        require_positive_int("hippo_order", self.hippo_order)
        require(self.hippo_theta >= 0, "hippo_theta", self.hippo_theta, "a number >= 0")
        require(self.hippo_measure == "legt" or self.hippo_theta == 0, "hippo_theta",
                self.hippo_theta,
                f"0 with hippo_measure={self.hippo_measure!r} (the window is LegT's; the preset "
                "sets one: pass --hippo-theta 0 with this measure)")


@dataclasses.dataclass(frozen=True)
class TSMCNNConfig(TSMConfig):
    """TSM whose network reads the last ``prefix`` frames as channels.

    Its fields are those of :class:`TSMConfig`.
    """

    kind_name: ClassVar[str] = "tsm-cnn"


#: The type of ``TrainConfig.model``: any learned-stencil config (by its ``kind`` tag in JSON).
StencilModelConfig = LIConfig | TSMHiPPOConfig | TSMCNNConfig
#: The learned-stencil configs, one per kind, in the order the kinds are listed.
STENCIL_CONFIGS: tuple[type, ...] = typing.get_args(StencilModelConfig)


@dataclasses.dataclass(frozen=True)
class StaggerModelConfig:
    """The decomposition and the sub-solver network.

    Args:
      s: spatial factor; the fine N² field is split into s² sub-fields on (N/s)².
      s_time: temporal factor s_T; one call advances s_T fine steps, sub-task
        ``k`` producing the frame ``k + 1`` steps ahead.
      hidden: channels per hidden layer of the periodic conv tower of every sub-solver.
      depth: layers of that tower.
      kernel: kernel size of that tower.
      input_scale: inputs of that tower are multiplied by this.
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
      quadratic_input: add the pointwise products u², u·v, v² of every cell of
        the view as input channels (3 per block).  The convective term
        −∇·(u⊗u) is quadratic in u; with the products given, the first
        convolution can form flux differences linearly instead of the ReLU
        tower having to approximate products.
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
    quadratic_input: bool = False

    #: The kind this config describes (``run.json``'s ``kind``).
    kind_name: ClassVar[str] = "stagger"

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
        require(isinstance(self.quadratic_input, bool), "quadratic_input", self.quadratic_input,
                "a bool")

    @property
    def n_spatial(self) -> int:
        return self.s * self.s

    @property
    def n_subtasks(self) -> int:
        return self.s * self.s * self.s_time


__all__ = ["HIPPO_MEASURES", "FEATURE_NORMS", "WEIGHTS", "EMBEDDINGS", "VIEWS", "StencilConfig",
           "LIConfig", "TSMConfig", "TSMHiPPOConfig", "TSMCNNConfig", "STENCIL_CONFIGS",
           "StencilModelConfig", "StaggerModelConfig"]
