r"""Flow diagnostics on the staggered (MAC) grid: vorticity, kinetic energy, enstrophy.

Pure ``jax.numpy`` functions on arrays ``(..., x, y)`` (axis -2 is x, -1 is y;
any leading dims), used by the store's generation (the end-of-warm-up
energy and enstrophy) and by :mod:`neuralpde.evaluation.metrics`, which
re-exports them.  u sits at offset (1, ½), v at (½, 1) of a periodic grid.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

ArrayLike = jax.Array | np.ndarray


def vorticity(u: ArrayLike, v: ArrayLike, dx: float, dy: float | None = None) -> jax.Array:
    r"""Vorticity of a staggered periodic velocity field by forward differences.

    .. math::

        \omega_{i,j} = \frac{v_{i+1,j} - v_{i,j}}{\Delta x}
                     - \frac{u_{i,j+1} - u_{i,j}}{\Delta y}

    with periodic wrap-around (``jnp.roll``).  With ``u`` at offset (1, 0.5)
    and ``v`` at (0.5, 1) both differences are centred on the cell corner, so
    ω lives at offset (1, 1), i.e. x = (i+1)dx, y = (j+1)dy, and is
    second-order accurate there.  This is exactly what jax-cfd's
    ``finite_differences.curl_2d`` computes (``forward_difference(v, axis=0)
    - forward_difference(u, axis=1)``, result at offset (1, 1)).

    Args:
      u: array ``(..., x, y)``, the velocity component u at offset (1, 0.5).
      v: array ``(..., x, y)``, the velocity component v at offset (0.5, 1).
      dx: grid step in x.
      dy: grid step in y; defaults to ``dx``.

    Returns:
      ω at offset (1, 1), shape ``(..., x, y)``.
    """
    dy = dx if dy is None else dy
    u = jnp.asarray(u)
    v = jnp.asarray(v)
    dv_dx = (jnp.roll(v, -1, axis=-2) - v) / dx
    du_dy = (jnp.roll(u, -1, axis=-1) - u) / dy
    return dv_dx - du_dy


def kinetic_energy(u: ArrayLike, v: ArrayLike) -> jax.Array:
    r"""Mean kinetic energy per unit area (density 1).

    .. math:: E = \tfrac12 \,\langle u^2 + v^2 \rangle_{\text{grid}}

    Args:
      u: array ``(..., x, y)``, the velocity component u.
      v: array ``(..., x, y)``, the velocity component v.

    Returns:
      The energy, shape ``(...)``.
    """
    u = jnp.asarray(u)
    v = jnp.asarray(v)
    return 0.5 * jnp.mean(u * u + v * v, axis=(-2, -1))


def enstrophy(w: ArrayLike) -> jax.Array:
    r"""Mean enstrophy per unit area.

    .. math:: Z = \tfrac12 \,\langle \omega^2 \rangle_{\text{grid}}

    Args:
      w: array ``(..., x, y)``, the vorticity (e.g. from :func:`vorticity`).

    Returns:
      The enstrophy, shape ``(...)``.
    """
    w = jnp.asarray(w)
    return 0.5 * jnp.mean(w * w, axis=(-2, -1))


__all__ = ["vorticity", "kinetic_energy", "enstrophy"]
