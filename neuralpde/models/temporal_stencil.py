r"""Temporal Stencil Modeling (TSM): stencil coefficients from the trajectory's history.

TSM (Sun, Yang, Yoo, ICML 2023) is learned interpolation
(:mod:`neuralpde.models.learned_interpolation`) whose network sees the
*history* of the flow instead of the current velocity only.  Each cell's u
and v face values are two scalar time series :math:`u_k`; a *temporal
encoder* compresses each into a per-cell memory :math:`x_k`, and the conv
tower maps the memories (all cells, both components, as channels) to the free
parameters of the constrained stencils:

.. math::

    x_{k+1} = \mathrm{update}(x_k, \mathbf u_{k+1}),\qquad
    \theta_k = \mathrm{tower}(\mathrm{features}(x_k)),\qquad
    \mathbf u_{k+1} = S(\mathbf u_k;\ c_0 + N\theta_k)

with :math:`S` the finite-volume step with learned convection (van Leer TVD
limiter on the advected quantity as in LI).  This module holds the network
side (encoders and the stencil network); the solver is
:class:`neuralpde.solvers.learned.TSMSolver`.

Encoders (:class:`HiPPOEncoder`, :class:`FrameStackEncoder`):

* ``tsm-hippo`` — a HiPPO memory of order N per cell and component
  (:mod:`neuralpde.models.hippo`; published: LagT, N = 256, dt = 1 per frame),
  2N feature channels; O(N²) per cell per step online.
* ``tsm-cnn`` — the last K raw frames stacked as 2K channels (a shift register).

Both are built over a prefix of K frames (published 32) that ends at the
rollout's initial state; then every solver step feeds the new velocity in.

Feature scale
-------------
An encoder may carry a fixed per-channel ``scale`` :math:`s_c`: the tower then
sees :math:`f_c / s_c`.  Training with ``feature_norm='rms'`` sets
:math:`s_c` to the root mean square of channel ``c`` over training prefixes
(:func:`feature_rms`), so every channel enters the tower at unit size.  This
could matter for HiPPO memories: on the mini test prefixes the LegT (N = 32,
θ = 32) coefficient of order 0 (the window mean) has an RMS of 1.1, the slope
(order 1) 0.18 and orders >= 2 below 0.09, so with a plain input scale the
tower barely sees the history (``experiments/hippo_feature_rms.py``).
Measured on mini it hurts instead (docs/tsm.md): it lifts the channels that
carry only the memory's start-up artefact.  The scale is not trained; it is
saved in the run's ``run.json``.

Temporal bundling
-----------------
One network call predicts the coefficients of the next B steps (published
B = 4): the tower has ``B × F`` output channels, block b drives step b of the
bundle; the memory is still updated after every step.  ``TSMSolver``
(:mod:`neuralpde.solvers.learned`) implements the solver interface with **one bundle per
solver step** (``solver.dt = B · dt_model``): its state is the velocity and the memory at a
bundle boundary, so the position within the bundle is always 0 between
calls.  (Keeping a position counter in the state and calling the network
only when it is 0 would need a ``lax.cond`` whose predicate is per sample;
under ``vmap`` that becomes a select that runs the network every step and
removes the latency gain bundling exists for.)  Rollouts therefore observe at
bundle boundaries: the frame spacing must be a multiple of B model steps
(4 for mini, 8 for paper: both are).  ``TSMSolver.bundle_step`` also
returns the B intermediate velocities, which the training loss uses.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from neuralpde.config import ConfigError
from neuralpde.models.hippo import HiPPO, Memory, make_hippo
from neuralpde.models.learned_interpolation import (
    COMPONENTS,
    coefficients_from_free_parameters,
    num_free_parameters,
)
from neuralpde.models.tower import make_tower

ENCODERS = ("hippo", "frames")


@dataclasses.dataclass(frozen=True)
class HiPPOEncoder:
    """Per-cell HiPPO memories of u and v: features ``(n, n, 2N)``.

    Args:
      hippo: the discretised HiPPO operator (:func:`neuralpde.models.hippo.make_hippo`).
      prefix: frames encoded before the rollout (K, published 32).
      scale: ``None`` or one positive divisor per feature channel (``2N``).
    """

    hippo: HiPPO
    prefix: int
    scale: tuple[float, ...] | None = None

    def __post_init__(self):
        _check_scale(self.scale, self.channels)

    @property
    def channels(self) -> int:
        return len(COMPONENTS) * self.hippo.order

    def encode(self, frames: jax.Array) -> Memory:
        """Memory after the frames ``(K, 2, n, n)`` (oldest first): one contraction."""
        return self.hippo.encode(frames, axis=0)

    def update(self, memory: Memory, uv: jax.Array) -> Memory:
        """Feed one velocity ``(2, n, n)``: ``x ← A_d x + B_d u`` in every cell."""
        return self.hippo.update(memory, uv)

    def features(self, memory: Memory) -> jax.Array:
        """``(2, n, n, N)`` -> channels last ``(n, n, 2N)`` (u's N coefficients, then v's),
        / scale."""
        x = memory.coefficients
        return _scaled(jnp.moveaxis(x, 0, -2).reshape(x.shape[1:3] + (-1,)), self.scale)


@dataclasses.dataclass(frozen=True)
class FrameStackEncoder:
    """The last K frames as channels (TSM-CNN): features ``(n, n, 2K)``, oldest first.

    ``scale``: ``None`` or one positive divisor per feature channel (``2K``).
    """

    prefix: int
    scale: tuple[float, ...] | None = None

    def __post_init__(self):
        _check_scale(self.scale, self.channels)

    @property
    def channels(self) -> int:
        return len(COMPONENTS) * self.prefix

    def encode(self, frames: jax.Array) -> jax.Array:
        return jnp.asarray(frames)

    def update(self, memory: jax.Array, uv: jax.Array) -> jax.Array:
        return jnp.concatenate([memory[1:], uv[None].astype(memory.dtype)], axis=0)

    def features(self, memory: jax.Array) -> jax.Array:
        k, c, n1, n2 = memory.shape
        return _scaled(jnp.transpose(memory, (2, 3, 0, 1)).reshape(n1, n2, k * c), self.scale)


def _check_scale(scale, channels: int) -> None:
    if scale is None:
        return
    ok = (isinstance(scale, tuple) and len(scale) == channels
          and all(isinstance(x, float) and math.isfinite(x) and x > 0 for x in scale))
    if not ok:
        raise ConfigError(f"invalid feature scale {scale!r}: accepted None or a tuple of "
                          f"{channels} finite positive floats (one per feature channel)")


def _scaled(features: jax.Array, scale) -> jax.Array:
    if scale is None:
        return features
    return features * jnp.asarray([1.0 / x for x in scale], features.dtype)


def feature_rms(encoder, prefixes, floor: float = 1e-2) -> tuple[float, ...]:
    """Root mean square of each (unscaled) feature channel over prefixes ``(S, K, 2, n, n)``.

    Floored at ``floor`` times the largest channel's RMS, so a channel that is
    (nearly) zero on the training data is amplified at most ``1 / floor``
    times (all zero: every scale 1).
    """
    encoder = dataclasses.replace(encoder, scale=None)
    prefixes = jnp.asarray(prefixes)
    if prefixes.ndim != 5 or prefixes.shape[1:3] != (encoder.prefix, len(COMPONENTS)):
        raise ValueError(f"prefixes have shape {prefixes.shape}: expected (S, {encoder.prefix}, "
                         f"{len(COMPONENTS)}, n, n)")
    featurise = jax.jit(lambda frames: jnp.sum(encoder.features(encoder.encode(frames)) ** 2,
                                               axis=(0, 1)))
    square = sum(np.asarray(featurise(frames), np.float64) for frames in prefixes)
    cells = prefixes.shape[0] * prefixes.shape[-1] * prefixes.shape[-2]
    rms = np.sqrt(square / cells)
    if not rms.max() > 0:
        return (1.0,) * encoder.channels
    return tuple(float(x) for x in np.maximum(rms, floor * rms.max()))


def make_encoder(kind: str, prefix: int, hippo_measure: str = "lagt", hippo_order: int = 256,
                 hippo_theta: float | None = None, scale: tuple[float, ...] | None = None):
    """The temporal encoder of ``kind`` (``'hippo'`` or ``'frames'``) over ``prefix`` frames.

    ``hippo_theta`` (LegT window, in frames) defaults to ``prefix``; ``scale``
    divides the feature channels (see "Feature scale" above).
    """
    if not isinstance(prefix, int) or prefix < 1:
        raise ConfigError(f"invalid prefix={prefix!r}: accepted an integer >= 1 (frames encoded)")
    if kind == "frames":
        return FrameStackEncoder(prefix, scale)
    if kind == "hippo":
        theta = hippo_theta if hippo_theta is not None else (
            float(prefix) if hippo_measure == "legt" else None)
        return HiPPOEncoder(make_hippo(hippo_measure, hippo_order, dt=1.0, theta=theta), prefix,
                            scale)
    raise ConfigError(f"unknown temporal encoder {kind!r}: accepted {list(ENCODERS)}")


def memory_history_note(encoder) -> str | None:
    """A one-line note when a HiPPO encoder's prefix is shorter than the history its memory needs.

    A memory encoded from zero over ``prefix`` frames (where every training
    window and every rollout starts) has the statistics of the memory a long
    rollout carries only if ``prefix >= hippo.memory_frames()``
    (:meth:`neuralpde.models.hippo.HiPPO.memory_frames`; docs/tsm.md).  ``None``
    when it is (and for the frame-stack encoder).  LagT N = 256 over the
    published 32-frame prefix is the paper's setting and gets the note.
    """
    if not isinstance(encoder, HiPPOEncoder):
        return None
    hippo = encoder.hippo
    needed = hippo.memory_frames()
    label = f"{hippo.measure} N={hippo.order}"
    if needed is None:
        return (f"note: the {label} memory never forgets, so a memory encoded over the "
                f"{encoder.prefix}-frame prefix is not statistically the one a long rollout "
                "carries (docs/tsm.md)")
    if needed > encoder.prefix:
        return (f"note: the {label} memory needs {needed} frames of history to match the "
                f"statistics a long rollout carries; the {encoder.prefix}-frame prefix gives "
                "training windows and rollout starts younger memories (docs/tsm.md)")
    return None


class TemporalStencilModel(nnx.Module):
    """Conv tower from temporal features to the stencils of the next ``bundle`` steps.

    Args:
      in_channels: feature channels of the encoder (``encoder.channels``).
      order: polynomial order every stencil reproduces (published 1).
      bundle: steps whose coefficients one call predicts (B, published 4).
      hidden: channels per hidden layer of the :class:`ConvTower` (published 256).
      depth: layers of the tower (published 6).
      kernel: kernel size of the tower (published 3).
      input_scale: inputs of the tower are multiplied by this (published 0.1).
      decompose: run the tower on the s² interleaved sub-fields at N/s (1 = off).
      rngs: ``nnx.Rngs`` for the initial weights.

    ``model(features)`` with features ``(..., n, n, C)`` returns a tuple of B
    coefficient dicts ``{target: (..., n, n, 16)}``, one per step of the bundle.
    """

    def __init__(self, in_channels: int, order: int = 1, bundle: int = 4, hidden: int = 256,
                 depth: int = 6, kernel: int = 3, input_scale: float = 0.1, decompose: int = 1, *,
                 rngs: nnx.Rngs):
        if not isinstance(bundle, int) or bundle < 1:
            raise ConfigError(f"invalid bundle={bundle!r}: accepted an integer >= 1")
        self.order, self.bundle = int(order), bundle
        self.free = num_free_parameters(self.order)
        self.tower = make_tower(in_channels, bundle * self.free, hidden=hidden, depth=depth,
                                kernel=kernel, input_scale=input_scale, decompose=decompose,
                                rngs=rngs)

    def __call__(self, features: jax.Array) -> tuple:
        theta = self.tower(features)
        blocks = theta.reshape(theta.shape[:-1] + (self.bundle, self.free))
        return tuple(coefficients_from_free_parameters(blocks[..., b, :], self.order)
                     for b in range(self.bundle))


__all__ = ["memory_history_note", "HiPPOEncoder", "FrameStackEncoder", "make_encoder",
           "feature_rms", "TemporalStencilModel"]
