r"""Periodic convolution towers (Flax NNX): :class:`ConvTower` and :class:`DecomposedTower`.

The network of learned interpolation (published: 6 hidden layers of 256
channels, 3×3 kernels, ReLU, inputs scaled by 0.1, one 3×3 output layer):

    x ─► ·input_scale ─► [wrap-pad ─► conv k×k (VALID) ─► ReLU] × depth
      ─► wrap-pad ─► conv k×k (VALID) ─► out_channels

Every convolution pads its input periodically (``jnp.pad(mode='wrap')``, k//2
cells each side) and then convolves without padding, so the tower is a map
of periodic fields: shifting the input grid periodically shifts the output
grid the same way (translation equivariance on the torus), and the output has
the input's spatial shape.

Layout: channels last, ``(..., N_1, N_2, C)`` (any number of leading batch
axes; the last three axes are the two periodic grid axes and the channels).

Decomposed tower
----------------
:class:`DecomposedTower` runs the same tower on the s² interleaved sub-fields
at N/s (NeuralStagger-style decomposition, Huang et al., ICML 2023).
Same call signature as :class:`~neuralpde.models.tower.ConvTower` —
``(..., N, N, in_channels) -> (..., N, N, out_channels)`` — but computed on
the coarse grid:

    x ─► space-to-depth by s: (..., N/s, N/s, s²·in) ─► ConvTower(s²·in → s²·out)
      ─► depth-to-space: (..., N, N, out)

(:func:`neuralpde.physics.decompose.space_to_depth`: channel
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
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from neuralpde.config import ConfigError
from neuralpde.physics.decompose import depth_to_space, space_to_depth


def periodic_pad(x: jax.Array, width: int) -> jax.Array:
    """Pad the two grid axes of ``x`` (``(..., N_1, N_2, C)``) by ``width`` cells, wrapping."""
    if width == 0:
        return x
    pad = [(0, 0)] * (x.ndim - 3) + [(width, width), (width, width), (0, 0)]
    return jnp.pad(x, pad, mode="wrap")


class ConvTower(nnx.Module):
    """Periodic convolutions + ReLU, then a linear output convolution.

    Args:
      in_channels: input channels (> 0).
      out_channels: output channels (> 0).
      hidden: channels of every hidden layer (> 0; published 256).
      depth: hidden layers (>= 0; published 6). ``depth = 0`` is a single
        linear periodic convolution.
      kernel: odd kernel size (published 3).
      input_scale: factor applied to the input (published 0.1).
      rngs: ``nnx.Rngs`` for the initial weights (default Flax inits:
        LeCun-normal kernels, zero biases).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 256, depth: int = 6,
                 kernel: int = 3, input_scale: float = 0.1, *, rngs: nnx.Rngs):
        for label, value, low in (("in_channels", in_channels, 1),
                                  ("out_channels", out_channels, 1), ("hidden", hidden, 1),
                                  ("depth", depth, 0), ("kernel", kernel, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"invalid {label} {value!r}: accepted an integer >= {low}")
        if kernel % 2 == 0:
            raise ValueError(f"invalid kernel {kernel!r}: accepted an odd integer (periodic "
                             "padding by kernel//2 keeps the grid shape only for odd kernels)")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel = kernel
        self.input_scale = float(input_scale)
        widths = [in_channels] + [hidden] * depth + [out_channels]
        self.layers = nnx.List([
            nnx.Conv(a, b, (kernel, kernel), padding="VALID", rngs=rngs)
            for a, b in zip(widths[:-1], widths[1:])])

    def __call__(self, x: jax.Array) -> jax.Array:
        """``(..., N_1, N_2, in_channels)`` -> ``(..., N_1, N_2, out_channels)``."""
        if x.ndim < 3 or x.shape[-1] != self.in_channels:
            raise ValueError(f"tower input has shape {x.shape}: expected (..., N1, N2, "
                             f"{self.in_channels})")
        lead = x.shape[:-3]
        h = x.reshape((-1,) + x.shape[-3:]) * self.input_scale
        pad = self.kernel // 2
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            h = layer(periodic_pad(h, pad))
            if i < last:
                h = jax.nn.relu(h)
        return h.reshape(lead + h.shape[-3:])


class DecomposedTower(nnx.Module):
    """``ConvTower`` on the space-to-depth field: ``(..., N, N, C_in) -> (..., N, N, C_out)``.

    N must be divisible by ``s``.

    Args:
      in_channels: as :class:`ConvTower` (the coarse tower has
        ``s²·in_channels`` inputs).
      out_channels: as :class:`ConvTower` (the coarse tower has
        ``s²·out_channels`` outputs).
      hidden: as :class:`ConvTower` (``hidden`` channels per hidden layer of
        the coarse tower).
      depth: as :class:`ConvTower`.
      kernel: as :class:`ConvTower`.
      input_scale: as :class:`ConvTower`.
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


def make_tower(in_channels: int, out_channels: int, *, decompose: int = 1, **kwargs) -> nnx.Module:
    """A :class:`ConvTower`, or for ``decompose = s > 1`` the same tower run on the s²
    interleaved sub-fields at N/s (:class:`DecomposedTower`)."""
    if not isinstance(decompose, int) or decompose < 1:
        raise ValueError(f"invalid decompose={decompose!r}: accepted an integer >= 1")
    if decompose == 1:
        return ConvTower(in_channels, out_channels, **kwargs)
    return DecomposedTower(in_channels, out_channels, s=decompose, **kwargs)


__all__ = ["ConvTower", "DecomposedTower", "periodic_pad", "make_tower"]
