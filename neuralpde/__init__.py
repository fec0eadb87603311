"""neuralpde: neural PDE solvers for 2-D incompressible Navier–Stokes turbulence, on JAX.

Layers, bottom up (a module imports only from its own layer's package or below):

* ``config``, ``progress``, ``sharding`` — config helpers and errors, progress
  bars, device meshes;
* ``numerics`` — classical face-value schemes (van Leer, WENO5-JS/Z);
* ``physics`` — every jax-cfd call: flows, DNS, convection, operators, decomposition;
* ``models`` (Flax networks and their configs) and ``store`` (presets,
  generation, the trajectory store);
* ``solvers`` — the one solver interface, classical/learned/staggered solvers, rollouts;
* ``evaluation`` — metrics, the one scoring pipeline, results folders, comparison;
* ``training`` — one loop for every learned kind, losses, run folders;
* ``registry`` — solver names → solvers; ``quickstart``; ``cli``.

See docs/guide.md for the map of names.

What made an output: :func:`provenance` (the package version and, when the
package runs from a git checkout, its commit), recorded in every results
folder, run folder and trajectory store; :func:`version_line` is what
``neuralpde --version`` prints.
"""

from __future__ import annotations

import functools
from pathlib import Path

__version__ = "0.1.0"

#: Environment variables that would point git at another repository than the package's own.
_GIT_REDIRECTS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                  "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CEILING_DIRECTORIES",
                  "GIT_DISCOVERY_ACROSS_FILESYSTEM", "GIT_COMMON_DIR", "GIT_NAMESPACE")


def _checkout() -> Path:
    """The folder that holds the package's source folder: a git checkout's root when the
    package runs from one (an editable install), a ``site-packages`` folder when installed."""
    return Path(__file__).resolve().parent.parent


def describe_checkout(root) -> str:
    """The short commit hash of the git checkout whose root is ``root``, with ``+dirty``
    when a tracked file differs from it (``'12e0155'``, ``'12e0155+dirty'``); ``''``
    when ``root`` is not the root of a checkout or git cannot say (not installed, an
    unreadable or untrusted repository, a timeout).

    Untracked files do not count (as ``git describe --dirty``).  Never raises; runs git
    twice (``rev-parse``, ``status``) without taking the index lock, and not at all
    when ``root`` holds no ``.git``.
    """
    import os
    import subprocess

    root = Path(root)
    if not (root / ".git").exists():  # an installed package, or not a checkout: no subprocess
        return ""
    env = {k: v for k, v in os.environ.items() if k not in _GIT_REDIRECTS}
    env.update(GIT_OPTIONAL_LOCKS="0", LC_ALL="C")

    def git(*args: str) -> str:
        return subprocess.run(("git", *args), cwd=root, env=env, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()

    try:
        top, commit = git("rev-parse", "--show-toplevel", "--short", "HEAD").splitlines()
        if Path(top).resolve() != root.resolve():  # root lies inside some other repository
            return ""
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, ValueError, subprocess.SubprocessError):
        return ""
    return commit + ("+dirty" if dirty else "")


@functools.cache
def git_commit() -> str:
    """:func:`describe_checkout` of the package's own checkout (``''`` when installed
    from a wheel); asked once per process, on first use (never at import)."""
    return describe_checkout(_checkout())


def provenance() -> dict:
    """What made an output, as recorded in ``summary.json``, ``run.json`` and store attrs:
    ``neuralpde_version`` (:data:`__version__`) and ``neuralpde_git_commit``
    (:func:`git_commit`: ``'12e0155'``, ``'12e0155+dirty'``, or ``''`` outside a checkout).
    Outputs written before these keys existed lack them; readers must not require them."""
    return {"neuralpde_version": __version__, "neuralpde_git_commit": git_commit()}


def version_line() -> str:
    """``'neuralpde 0.1.0 (git 12e0155)'`` from a checkout, ``'neuralpde 0.1.0'`` otherwise
    (what ``neuralpde --version`` prints)."""
    commit = git_commit()
    return f"neuralpde {__version__}" + (f" (git {commit})" if commit else "")


__all__ = ["__version__", "provenance", "git_commit", "describe_checkout", "version_line"]
