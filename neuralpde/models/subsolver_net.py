r"""The sub-solver network: s²·s_T coarse sub-solvers evaluated in one batched call.

Sub-tasks.  With spatial factor :math:`s` and temporal factor :math:`s_T`
there are :math:`S = s^2 s_T` sub-tasks :math:`t = (a s + b)\,s_T + k`:
sub-solver :math:`(a, b, k)` produces sub-field :math:`(a, b)` of the frame
:math:`k + 1` fine steps after the current frame :math:`\mathbf u^n`, as an
increment of the current sub-field,

.. math::

    \text{sub}_{(a,b)}(\mathbf u^{n+k+1}) = \text{sub}_{(a,b)}(\mathbf u^n)
       + (k+1)\,\Delta t\;\mathbf g_{a,b,k},

so the network predicts :math:`\mathbf g` in units of an acceleration
(about :math:`\mathcal P\mathbf F`), whatever the lead time.  The fine frames
are rebuilt by interleaving (:func:`~neuralpde.physics.decompose.merge_space`);
the s_T temporal sub-tasks fill the s_T interleaved time levels between two
calls, so one call advances :math:`s_T` fine steps.

Inputs (channels last, on the coarse :math:`M = N/s` grid):

* ``view='all'``: the relative view of the current frame
  (:func:`~neuralpde.physics.decompose.relative_view`), 2·s² channels — the
  whole fine field, own sub-field first;
* ``view='own'``: the own sub-field only, 2 channels;
* ``quadratic_input``: the pointwise products :math:`u^2, uv, v^2` of every
  block of the view (3·s² or 3 channels; for ``'joint'``, of the fine field);
* ``forcing_input``: the static forcing :math:`\mathbf f(\mathbf 0)` seen the
  same way (2·s² or 2 channels);
* ``weights='shared'``: the sub-task embedding, constant over the grid
  (``learned``: ``embedding_dim`` trainable numbers per sub-task; ``onehot``:
  S fixed channels; ``none``).

Weights:

* ``'shared'`` — one tower, applied to the batch of S inputs;
* ``'separate'`` — S towers with stacked weights ``(S, k, k, C_in, C_out)``,
  applied with ``vmap`` over the tower axis (XLA turns it into grouped
  convolutions): still one call;
* ``'joint'`` — one :class:`~neuralpde.models.tower.DecomposedTower`
  whose s²·2·s_T output channels are all sub-tasks at once (shared hidden
  layers, separate output channels), on the absolute space-to-depth field.

'shared' and 'separate' cost S coarse towers per call, i.e. per simulated
time the same FLOPs as one undecomposed tower on the fine grid (the gain is
parallelism: S independent coarse problems); 'joint' costs one coarse tower
per call, s²·s_T times less.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from neuralpde.models.config import StaggerModelConfig
from neuralpde.models.tower import DecomposedTower, periodic_pad
from neuralpde.physics import decompose

Array = jax.Array


def _numpy_rng(rngs: nnx.Rngs) -> np.random.Generator:
    """A numpy generator seeded from ``rngs`` (one scalar draw: no per-shape JAX RNG compile)."""
    seed = jax.random.randint(rngs.params(), (), 0, np.iinfo(np.int32).max)
    return np.random.default_rng(int(seed))


def _lecun_normal(rng: np.random.Generator, shape) -> np.ndarray:
    """LeCun-normal kernels ``(towers, k, k, C_in, C_out)``: truncated at ±2σ, variance 1/(k·k·C_in)
    per tower (Flax's ``lecun_normal``, drawn with numpy)."""
    x = rng.standard_normal(shape)
    bad = np.abs(x) > 2
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(x) > 2
    fan_in = shape[1] * shape[2] * shape[3]
    std = np.sqrt(1.0 / fan_in) / 0.87962566103423978  # the truncated normal's std is 0.8796
    return (x * std).astype(np.float32)


class StackedTower(nnx.Module):
    """``n_towers`` periodic conv towers with stacked weights.

    The :class:`~neuralpde.models.tower.ConvTower` recipe, one tower per slice.

    ``x``: ``(n_towers, B, M, M, C_in)`` -> ``(n_towers, B, M, M, C_out)``;
    tower ``i`` maps ``x[i]``.  Kernels are LeCun-normal per tower (fan-in
    ``k·k·C_in``), biases zero, ReLU between layers, the input multiplied by
    ``input_scale``, periodic padding before every VALID convolution.
    """

    def __init__(self, n_towers: int, in_channels: int, out_channels: int, hidden: int,
                 depth: int, kernel: int, input_scale: float, *, rngs: nnx.Rngs):
        rng = _numpy_rng(rngs)
        widths = [in_channels] + [hidden] * depth + [out_channels]
        self.n_towers, self.in_channels, self.kernel = n_towers, in_channels, kernel
        self.input_scale = float(input_scale)
        self.kernels = nnx.List([
            nnx.Param(jnp.asarray(_lecun_normal(rng, (n_towers, kernel, kernel, a, b))))
            for a, b in zip(widths[:-1], widths[1:])])
        self.biases = nnx.List([nnx.Param(jnp.zeros((n_towers, b), jnp.float32))
                                for b in widths[1:]])

    @staticmethod
    def _apply(kernels, biases, x, kernel, input_scale):
        h = x * input_scale
        last = len(kernels) - 1
        for i, (w, bias) in enumerate(zip(kernels, biases)):
            h = jax.lax.conv_general_dilated(
                periodic_pad(h, kernel // 2), w, (1, 1), "VALID",
                dimension_numbers=("NHWC", "HWIO", "NHWC")) + bias
            if i < last:
                h = jax.nn.relu(h)
        return h

    def __call__(self, x: Array) -> Array:
        if x.ndim != 5 or x.shape[0] != self.n_towers or x.shape[-1] != self.in_channels:
            raise ValueError(f"stacked tower input has shape {x.shape}: expected "
                             f"({self.n_towers}, B, M, M, {self.in_channels})")
        kernels = [k[...] for k in self.kernels]
        biases = [b[...] for b in self.biases]
        return jax.vmap(lambda ks, bs, xi: self._apply(ks, bs, xi, self.kernel, self.input_scale))(
            kernels, biases, x)

    def one(self, index: int, x: Array) -> Array:
        """Tower ``index`` alone on ``x`` (``(B, M, M, C_in)``)."""
        kernels = [k[...][index] for k in self.kernels]
        biases = [b[...][index] for b in self.biases]
        return self._apply(kernels, biases, x, self.kernel, self.input_scale)


def quadratic_channels(uv: Array, axis: int) -> Array:
    """``(u², u·v, v²)`` of the (u, v) pair on ``axis`` (size 2 -> 3), pointwise."""
    u, v = jnp.moveaxis(uv, axis, 0)
    return jnp.moveaxis(jnp.stack([u * u, u * v, v * v]), 0, axis)


def _channels_last(blocks: Array) -> Array:
    """``(..., B, C, M, M)`` blocks -> ``(..., M, M, B*C)``."""
    lead = blocks.shape[:-4]
    flat = blocks.reshape(lead + (-1,) + blocks.shape[-2:])
    return jnp.moveaxis(flat, -3, -1)


class SubSolverNet(nnx.Module):
    """All sub-solvers of a :class:`StaggerModelConfig`; see the module docstring.

    ``model.tendencies(uv, forcing)``: the current fine frame ``(2, N, N)``
    (and the static forcing ``(2, N, N)``, ignored without ``forcing_input``)
    -> :math:`\\mathbf g` of every temporal sub-task on the fine grid,
    ``(s_T, 2, N, N)``.  ``model.subtask_tendency(view, forcing_view, a, b,
    k)``: one sub-solver alone from its view ``(s², 2, M, M)`` (or
    ``(1, 2, M, M)`` for ``view='own'``) -> ``(2, M, M)``.
    """

    def __init__(self, config: StaggerModelConfig, *, rngs: nnx.Rngs):
        self.config = config
        c = config
        blocks = c.n_spatial if c.view == "all" else 1
        per_block = 2 + (3 if c.quadratic_input else 0) + (2 if c.forcing_input else 0)
        in_channels = per_block * blocks
        if c.weights == "joint":
            self.tower = DecomposedTower(per_block, 2 * c.s_time,
                                         hidden=c.hidden, depth=c.depth, kernel=c.kernel,
                                         input_scale=c.input_scale, s=c.s, rngs=rngs)
            return
        self.embedding_channels = 0
        if c.weights == "shared" and c.embedding == "learned":
            self.embedding = nnx.Param(jnp.asarray(
                _numpy_rng(rngs).standard_normal((c.n_subtasks, c.embedding_dim)), jnp.float32))
            self.embedding_channels = c.embedding_dim
        elif c.weights == "shared" and c.embedding == "onehot":
            self.embedding_channels = c.n_subtasks
        n_towers = 1 if c.weights == "shared" else c.n_subtasks
        self.tower = StackedTower(n_towers, in_channels + self.embedding_channels, 2, c.hidden,
                                  c.depth, c.kernel, c.input_scale, rngs=rngs)

    # -- inputs ---------------------------------------------------------------
    def _embedding(self, index) -> Array | None:
        c = self.config
        if c.weights != "shared" or c.embedding == "none":
            return None
        if c.embedding == "onehot":
            return jax.nn.one_hot(index, c.n_subtasks, dtype=jnp.float32)
        return self.embedding[...][index]

    def _coarse_input(self, view: Array, forcing_view: Array | None) -> Array:
        """View blocks ``(..., B, 2, M, M)`` (+ products, forcing) -> channels-last
        ``(..., M, M, C)``."""
        x = _channels_last(view)
        if self.config.quadratic_input:
            x = jnp.concatenate([x, _channels_last(quadratic_channels(view, axis=-3))], axis=-1)
        if self.config.forcing_input:
            x = jnp.concatenate([x, _channels_last(forcing_view)], axis=-1)
        return x

    def _views(self, field: Array) -> Array:
        """``(2, N, N)`` -> every sub-solver's view ``(s², B, 2, M, M)``."""
        views = decompose.relative_views(field, self.config.s)
        return views if self.config.view == "all" else views[:, :1]

    # -- all sub-solvers ------------------------------------------------------
    def tendencies(self, uv: Array, forcing: Array | None = None) -> Array:
        c = self.config
        n = uv.shape[-1]
        decompose.check_factor(n, c.s)
        if c.forcing_input and forcing is None:
            raise ValueError("this model takes the static forcing as input: pass forcing=(2, N, N)")
        if c.weights == "joint":
            x = jnp.moveaxis(uv, 0, -1)
            if c.quadratic_input:
                x = jnp.concatenate([x, jnp.moveaxis(quadratic_channels(uv, axis=0), 0, -1)],
                                    axis=-1)
            if c.forcing_input:
                x = jnp.concatenate([x, jnp.moveaxis(forcing, 0, -1)], axis=-1)
            g = self.tower(x) * c.output_scale                         # (N, N, s_T*2)
            return jnp.moveaxis(g.reshape(n, n, c.s_time, 2), (2, 3), (0, 1))
        x = self._coarse_input(self._views(uv), self._views(forcing) if c.forcing_input else None)
        # (S, M, M, C), t=(a*s+b)*s_T+k
        x = jnp.repeat(x, c.s_time, axis=0)
        emb = self._embedding(jnp.arange(c.n_subtasks))
        if emb is not None:
            emb = jnp.broadcast_to(emb[:, None, None, :], x.shape[:-1] + emb.shape[-1:])
            x = jnp.concatenate([x, emb], axis=-1)
        if c.weights == "shared":
            g = self.tower(x[None])[0]                                 # (S, M, M, 2)
        else:
            g = self.tower(x[:, None])[:, 0]
        m = n // c.s
        g = g * c.output_scale
        g = g.reshape(c.n_spatial, c.s_time, m, m, 2)
        g = jnp.moveaxis(g, (1, 4), (0, 2))                            # (s_T, s², 2, M, M)
        return decompose.merge_space(g, c.s)

    # -- one sub-solver alone ---------------------------------------------------
    def subtask_tendency(self, view: Array, forcing_view: Array | None, a: int, b: int,
                         k: int) -> Array:
        """Sub-solver ``(a, b, k)`` alone: its view -> ``g`` on its sub-field ``(2, M, M)``.

        For ``weights='joint'`` ``view`` is the absolute stack ``(s², 2, M, M)``
        (layout of :func:`~neuralpde.physics.decompose.split_space`) and the
        whole coarse tower runs (it is one network).
        """
        c = self.config
        if c.weights == "joint":
            fine = decompose.merge_space(view, c.s)
            forcing = decompose.merge_space(forcing_view, c.s) if c.forcing_input else None
            return decompose.subfield(self.tendencies(fine, forcing)[k], c.s, a, b)
        x = self._coarse_input(view, forcing_view)                     # (M, M, C)
        index = (a * c.s + b) * c.s_time + k
        emb = self._embedding(index)
        if emb is not None:
            x = jnp.concatenate([x, jnp.broadcast_to(emb, x.shape[:-1] + emb.shape)], axis=-1)
        tower = 0 if c.weights == "shared" else index
        g = self.tower.one(tower, x[None])[0] * c.output_scale         # (M, M, 2)
        return jnp.moveaxis(g, -1, 0)


def predict_frames(model: SubSolverNet, uv: Array, forcing: Array | None, dt: float,
                   project_fn=None) -> Array:
    r"""The next s_T fine frames ``(s_T, 2, N, N)``.

    :math:`\mathbf u^{n+k+1} = \mathbf u^n + (k+1)\Delta t\,\mathbf g_k`.

    ``project_fn``: applied to every frame (the pressure projection when the
    config asks for it), or ``None``.
    """
    g = model.tendencies(uv, forcing)
    lead = (jnp.arange(g.shape[0], dtype=uv.dtype) + 1) * dt
    frames = uv[None] + lead[:, None, None, None] * g
    if project_fn is not None:
        frames = jax.vmap(project_fn)(frames)
    return frames


__all__ = ["StackedTower", "SubSolverNet", "predict_frames", "quadratic_channels"]
