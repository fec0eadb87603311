"""The one door to jax-cfd.

jax-cfd 0.2.1 (the last PyPI release, unmaintained) still calls
``jax.tree_map``, ``jax.tree_flatten``, ``jax.tree_unflatten``,
``jax.tree_leaves`` and ``jax.tree_structure``, which JAX removed in 0.6.

Rather than putting those names back on the global ``jax`` module (which would
hide the same mistake in every other library of the process), this module
imports jax-cfd and replaces the ``jax`` global *inside each jax-cfd module*
with :class:`_LegacyJax`, a module proxy that forwards every attribute to the
real ``jax`` and answers the five removed names with their ``jax.tree_util``
equivalents.  Nothing outside jax-cfd sees a difference.

Every other part of neuralpde reaches jax-cfd through ``neuralpde.physics``;
``grep -r "import jax_cfd" neuralpde`` finds this file only, so the
dependency can be replaced in one place.

Exports: ``cfd`` (``jax_cfd.base``) and ``spectral`` (``jax_cfd.spectral``).
jax-cfd's ``ml`` (Haiku + gin) and ``data`` (needs seaborn) subpackages are not
used and not imported.
"""

from __future__ import annotations

import sys
import types

import jax

#: The names jax-cfd 0.2.1 uses that JAX removed, and what replaces them.
LEGACY_TREE_ALIASES = {
    "tree_map": jax.tree_util.tree_map,
    "tree_flatten": jax.tree_util.tree_flatten,
    "tree_unflatten": jax.tree_util.tree_unflatten,
    "tree_leaves": jax.tree_util.tree_leaves,
    "tree_structure": jax.tree_util.tree_structure,
}


class _LegacyJax(types.ModuleType):
    """A stand-in for the ``jax`` module, seen only by jax-cfd's modules.

    Attribute look-ups fall through to the real ``jax``; the removed
    ``jax.tree_*`` functions resolve to ``jax.tree_util``.
    """

    def __init__(self) -> None:
        super().__init__("jax", "jax as seen by jax-cfd (legacy tree aliases)")
        for name, fn in LEGACY_TREE_ALIASES.items():
            setattr(self, name, fn)

    def __getattr__(self, name: str):
        return getattr(jax, name)


_LEGACY_JAX = _LegacyJax()


def _patch_loaded_jax_cfd_modules() -> list[str]:
    """Point the ``jax`` global of every loaded jax-cfd module at the proxy."""
    patched = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("jax_cfd") or module is None:
            continue
        if module.__dict__.get("jax") is jax:
            module.__dict__["jax"] = _LEGACY_JAX
            patched.append(name)
    return patched


import jax_cfd.base as cfd  # noqa: E402  (the import this module exists for)
import jax_cfd.base.resize  # noqa: E402,F401
import jax_cfd.spectral as spectral  # noqa: E402
import jax_cfd.spectral.equations  # noqa: E402,F401
import jax_cfd.spectral.time_stepping  # noqa: E402,F401
import jax_cfd.spectral.utils  # noqa: E402,F401

PATCHED_MODULES = tuple(sorted(_patch_loaded_jax_cfd_modules()))

JAX_CFD_VERSION = getattr(sys.modules["jax_cfd"], "__version__", "0.2.1")

__all__ = ["cfd", "spectral", "PATCHED_MODULES", "JAX_CFD_VERSION", "LEGACY_TREE_ALIASES"]
