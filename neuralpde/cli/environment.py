"""The process environment a ``neuralpde`` command checks before it starts JAX:
``XLA_FLAGS`` and ``JAX_PLATFORMS``, each refused in one line when it cannot work."""

from __future__ import annotations

import os
import sys

from neuralpde.config import UserInputError

#: Set by :func:`check_xla_flags` to the ``XLA_FLAGS`` it found valid (its subprocesses and
#: child commands skip the probe).
XLA_FLAGS_CHECKED_ENV = "NEURALPDE_XLA_FLAGS_CHECKED"


def check_xla_flags() -> None:
    """Refuse (:class:`UserInputError`, one line) an ``XLA_FLAGS`` holding a flag XLA does not
    know, naming the flag.

    XLA reads ``XLA_FLAGS`` when the first backend starts and aborts the
    process from C++ on an unknown flag (exit 1, no Python error to catch), so
    the flags are tried first in a subprocess on the CPU backend (about a
    second, only when ``XLA_FLAGS`` is set; XLA knows every backend's flags
    there).  Nothing when it is unset or was checked already.
    """
    import subprocess

    flags = os.environ.get("XLA_FLAGS", "")
    if not flags.strip() or os.environ.get(XLA_FLAGS_CHECKED_ENV) == flags:
        return
    env = {**os.environ, "JAX_PLATFORMS": "cpu", XLA_FLAGS_CHECKED_ENV: flags}
    try:
        probe = subprocess.run([sys.executable, "-c", "import jax; jax.devices('cpu')"],
                               env=env, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError):  # best effort: the command itself goes on
        return
    unknown = [line for line in probe.stderr.splitlines() if "Unknown flag in XLA_FLAGS" in line]
    if probe.returncode != 0 and unknown:
        flag = unknown[0].split("Unknown flag in XLA_FLAGS:", 1)[-1].strip()
        raise UserInputError(f"XLA_FLAGS holds a flag XLA does not know: {flag[:120]}; correct "
                             "or remove it (XLA_FLAGS is read by every JAX program), or unset "
                             "XLA_FLAGS")
    os.environ[XLA_FLAGS_CHECKED_ENV] = flags


def check_jax_platforms() -> None:
    """Refuse (:class:`UserInputError`, one line) a ``JAX_PLATFORMS`` that names a platform
    this machine cannot start (``gpu`` or ``cuda`` on a machine without one), naming the
    platforms that do start; nothing when it is unset or empty.  Initialises JAX's backends
    (after ``jax.distributed``, which must come first)."""
    wanted = os.environ.get("JAX_PLATFORMS", "").strip()
    if not wanted:
        return
    import jax

    try:
        jax.devices()
        return
    except (RuntimeError, AssertionError) as error:
        reason = str(error).split(" (set JAX_PLATFORMS")[0].splitlines()[0][:160] if str(
            error) else "its backend did not start"
    available = "none"
    try:  # what starts when JAX chooses itself
        jax.config.update("jax_platforms", "")
        from jax._src import xla_bridge

        available = ", ".join(sorted(xla_bridge.backends())) or "none"
    except Exception:  # noqa: BLE001 - best effort: the refusal stands without the list
        pass
    raise UserInputError(f"JAX_PLATFORMS={wanted!r} names a platform this machine cannot start "
                         f"({reason}); available here: {available}: set JAX_PLATFORMS to one of "
                         "them, or unset it to let JAX choose")

