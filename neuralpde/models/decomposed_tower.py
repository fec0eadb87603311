r"""A conv tower that runs on the s² interleaved sub-fields at N/s (NeuralStagger-style decomposition).

Same call signature as :class:`~neuralpde.models.tower.ConvTower` —
``(..., N, N, in_channels) -> (..., N, N, out_channels)`` — but computed on
the coarse grid:

    x ─► space-to-depth by s: (..., N/s, N/s, s²·in) ─► ConvTower(s²·in → s²·out)
      ─► depth-to-space: (..., N, N, out)

(:func:`neuralpde.stagger.decompose.space_to_depth`: channel
``(a·s + b)·C + c`` holds ``x[..., a::s, b::s, c]``).  The s² sub-networks
that produce the coefficients of the s² sub-fields share every hidden layer
and differ only in their output channels; every sub-network sees all
sub-fields (no information is dropped, the rearrangement is exact).

Cost at equal hidden width: the hidden layers run on (N/s)² instead of N²
cells, so the FLOPs of a deep tower drop by ≈ s²; the first and last layers
have s² times more in/out channels, which matters only for shallow towers.
The receptive field of a k×k layer grows from k to k·s fine cells.  What is
lost: translation equivariance by one fine cell (the output at fine cell
(i, j) depends on i mod s, j mod s) — the tower is equivariant only to
shifts by s cells.

Hook for learned interpolation / TSM (not wired here): in
``LearnedInterpolation.__init__`` build ``DecomposedTower(..., s=s)`` instead
of ``ConvTower(...)`` when a config field ``decompose`` = s > 1; nothing else
changes, since the tower is called with the same channels-last tensor.
"""

from __future__ import annotations

import jax
from flax import nnx

from neuralpde.config import ConfigError
from neuralpde.models.tower import ConvTower
from neuralpde.stagger.decompose import depth_to_space, space_to_depth


class DecomposedTower(nnx.Module):
    """``ConvTower`` on the space-to-depth field: ``(..., N, N, C_in) -> (..., N, N, C_out)``.

    N must be divisible by ``s``.

    Args:
      in_channels, out_channels, hidden, depth, kernel, input_scale, rngs: as
        :class:`ConvTower` (the coarse tower has ``s²·in_channels`` inputs and
        ``s²·out_channels`` outputs, ``hidden`` channels per hidden layer).
      s: decomposition factor per axis (>= 1; 1 is a plain ``ConvTower``).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 256, depth: int = 6,
                 kernel: int = 3, input_scale: float = 0.1, *, s: int = 2, rngs: nnx.Rngs):
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise ConfigError(f"invalid s={s!r}: accepted an integer >= 1")
        for label, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"invalid {label} {value!r}: accepted an integer >= 1")
        self.s = s
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.tower = ConvTower(s * s * in_channels, s * s * out_channels, hidden=hidden,
                               depth=depth, kernel=kernel, input_scale=input_scale, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim < 3 or x.shape[-1] != self.in_channels:
            raise ValueError(f"tower input has shape {x.shape}: expected (..., N1, N2, "
                             f"{self.in_channels})")
        for axis in (-3, -2):
            if x.shape[axis] % self.s:
                raise ConfigError(f"invalid grid {x.shape[-3:-1]} for s={self.s}: accepted "
                                  f"grid sizes divisible by {self.s}")
        return depth_to_space(self.tower(space_to_depth(x, self.s)), self.s)


__all__ = ["DecomposedTower"]
