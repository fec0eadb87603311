"""Shared fixtures: tiny presets that exercise the real code paths in seconds."""

import os
import sys

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The suite is compile-bound (tiny grids, few steps): XLA's backend optimisation
# level 0 halves the compile time of the unrolled training steps and changes no
# test's outcome (every numerical check has a tolerance or compares two runs
# compiled alike).  Set before JAX starts; subprocesses (CLI, notebook kernels)
# inherit it.  A flag already given in XLA_FLAGS wins.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_backend_optimization_level=0").strip()

# One persistent XLA compilation cache for the run, outside the checkout: the xdist
# workers, the CLI subprocesses and the notebook kernels compile many of the same tiny
# programs, and each compiles it once.  NEURALPDE_TEST_XLA_CACHE names another folder;
# an empty value turns the cache off.  A JAX_COMPILATION_CACHE_DIR already set wins.
_cache = os.environ.get("NEURALPDE_TEST_XLA_CACHE",
                        os.path.join(os.path.expanduser("~"), ".cache", "neuralpde-tests", "xla"))
if _cache and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def tiny_preset(**overrides):
    """An 8² model grid from a 32² finite-volume DNS: the mini preset's code path, in seconds."""
    import dataclasses

    from neuralpde.store.presets import get_preset, with_overrides

    # the finite-volume reference throughout (the code path most tests were written for;
    # the pseudo-spectral reference and the coarse warm-up have their own tests)
    fields = dict(model_size=8, fine_size=32, initial_sizes=(16,), n_samples=3,
                  duration=0.6, warmup=0.3, batch_size=2, time_chunk=4,
                  reference_solver="fv", warmup_size=0, refine_time=0.0)
    history = overrides.pop("history", 4)  # the TSM prefix of validation/test (5 warm-up steps)
    fields.update(overrides)
    preset = with_overrides(get_preset("mini"), **fields)
    return dataclasses.replace(preset, test=dataclasses.replace(preset.test, history=history),
                               validation=dataclasses.replace(preset.validation, history=history))


@pytest.fixture
def tiny():
    return tiny_preset()


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """Train, validation and test stores of 2 trajectories on an 8² model grid (read-only:
    shared by the test modules; copy it before damaging it)."""
    from neuralpde.store.generate import generate

    out = tmp_path_factory.mktemp("tiny_data")
    generate(tiny_preset(n_samples=2, duration=0.6, initial_sizes=()), out, progress=False)
    return out


@pytest.fixture(scope="session")
def python_executable():
    return sys.executable


@pytest.fixture
def default_sigint():
    """SIGINT as Python sets it in a foreground process (``default_int_handler``) for the
    test, restored after: a suite run as a shell background job starts with SIGINT ignored,
    which the package leaves ignored (neuralpde.interrupts)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)

