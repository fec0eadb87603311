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

What made an output: :func:`provenance` (the package version, its git commit
when the package runs from a checkout, and the machine, :func:`machine`),
recorded in every results folder, run folder and trajectory store;
:func:`version_line` is what ``neuralpde --version`` prints.
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


def _cpu_model() -> str:
    """The CPU's name: ``model name`` of ``/proc/cpuinfo`` where there is one (Linux on
    x86), else what :mod:`platform` says (``platform.processor()``, ``platform.machine()``),
    else ``'unknown CPU'``."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return " ".join(value.split())
    except OSError:  # not Linux, or /proc not mounted
        pass
    return " ".join((platform.processor() or platform.machine() or "unknown CPU").split())


@functools.cache
def machine() -> str:
    """The machine this process runs on, in words: its CPU model, its logical core count,
    its operating system and architecture (``'AMD EPYC (2 cores, Linux x86_64)'``).

    The CPU model is ``/proc/cpuinfo``'s ``model name`` where there is one, else
    ``platform.processor()`` or ``platform.machine()``; the cores are
    :func:`os.cpu_count` (logical cores of the machine, not a limit a scheduler sets).
    Accelerators are not named here (``run.json`` and ``summary.json`` record JAX's
    devices as ``device``).  Asked once per process, on first use; never raises
    (``'unknown machine'`` when nothing can be read).
    """
    import os
    import platform

    try:
        cores = os.cpu_count()
        count = "cores unknown" if not cores else f"{cores} core{'s' if cores > 1 else ''}"
        system = " ".join(part for part in (platform.system(), platform.machine()) if part)
        return f"{_cpu_model()} ({count}, {system or 'unknown system'})"
    except Exception:  # noqa: BLE001 - a description must never stop the output it describes
        return "unknown machine"


def provenance() -> dict:
    """What made an output, as recorded in ``summary.json``, ``run.json`` and store attrs:
    ``neuralpde_version`` (:data:`__version__`), ``neuralpde_git_commit``
    (:func:`git_commit`: ``'12e0155'``, ``'12e0155+dirty'``, or ``''`` outside a checkout)
    and ``machine`` (:func:`machine`: where it was made).  Outputs written before these
    keys existed lack them; readers must not require them, and resuming a run or a store
    on another machine keeps the first start's values (they are not compared)."""
    return {"neuralpde_version": __version__, "neuralpde_git_commit": git_commit(),
            "machine": machine()}


def version_line() -> str:
    """``'neuralpde 0.1.0 (git 12e0155)'`` from a checkout, ``'neuralpde 0.1.0'`` otherwise
    (what ``neuralpde --version`` prints)."""
    commit = git_commit()
    return f"neuralpde {__version__}" + (f" (git {commit})" if commit else "")


__all__ = ["__version__", "provenance", "git_commit", "describe_checkout", "machine",
           "version_line"]
