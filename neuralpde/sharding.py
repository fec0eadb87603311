"""Data parallelism over devices with ``jax.sharding``, in one process or several.

A batch axis (the leading axis of every array) is split over a 1-D
``Mesh`` of the local devices; jit-compiled functions that ``vmap`` over that
axis then run one shard per device with no code change.  With one device
everything is a no-op.

Several processes (hosts): :func:`initialize_from_environment` starts
``jax.distributed`` when ``NEURALPDE_DISTRIBUTED=1`` (the ``neuralpde`` command
calls it first).  Then

* ``generate`` divides its sample batches among the processes, each sharding
  its own batches over its own devices (:func:`batch_mesh`);
* ``train`` runs one data-parallel update over every process's devices
  (:func:`global_mesh`): parameters replicated, each process feeding only its
  rows of the global batch (:func:`local_rows`, :func:`global_batch`);
* rollouts (``evaluate``, training validation) give each process a block of
  the samples (:func:`process_samples`) and gather the results in every
  process (:func:`gather_samples`); process 0 alone writes
  (:func:`is_writer`).

A refusal must reach every process, or the others wait for it in the next
collective: :func:`together` runs a check in all processes and raises in all
of them when it fails in one.  Commands other than ``generate``, ``train``,
``stagger-train``, ``evaluate`` and ``stagger-evaluate`` refuse to run in more
than one process.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

BATCH_AXIS = "batch"


def batch_mesh(devices=None) -> Mesh:
    """A 1-D mesh named ``'batch'`` over ``devices`` (default: this process's devices)."""
    devices = jax.local_devices() if devices is None else devices
    return Mesh(np.asarray(devices), (BATCH_AXIS,))


def global_mesh(devices=None) -> Mesh:
    """A 1-D mesh named ``'batch'`` over ``devices`` (default: every process's devices).

    ``jax.devices()`` lists the devices process by process, so process ``p``
    holds one contiguous block of a batch split over this mesh.  With one
    process it is :func:`batch_mesh`.
    """
    return batch_mesh(jax.devices() if devices is None else devices)


def is_writer() -> bool:
    """Whether this process writes shared outputs (process 0; always true with one process)."""
    return jax.process_index() == 0


def local_rows(sharding: NamedSharding, batch: int) -> slice:
    """The rows of a ``(batch, ...)`` array split by ``sharding`` that this process's devices hold.

    All rows with one process.  Raises ``ValueError`` when they are not one
    contiguous block (a mesh whose devices are not ordered by process).
    """
    index = sharding.addressable_devices_indices_map((batch,))
    rows = sorted({range(batch)[spec[0]] for spec in index.values()},
                  key=lambda r: r.start)
    start, stop = rows[0].start, rows[0].stop
    for block in rows[1:]:
        if block.start != stop:
            raise ValueError(f"this process's rows of the batch are not contiguous: {rows}")
        stop = block.stop
    return slice(start, stop)


def global_batch(local: np.ndarray, sharding: NamedSharding, batch: int) -> jax.Array:
    """The global ``(batch, ...)`` array of which this process holds ``local`` (its
    :func:`local_rows`)."""
    if jax.process_count() == 1:
        return jax.device_put(local, sharding)
    return jax.make_array_from_process_local_data(sharding, local, (batch,) + local.shape[1:])


def local_copy(tree):
    """Replace each replicated array spanning several processes by this process's copy.

    The copy lies on one of this process's devices; a rollout places it over its
    own devices (:func:`neuralpde.solvers.rollout.rollout`), so parameters
    trained on the :func:`global_mesh` run in this process's rollouts.  Other
    leaves are returned as they are.
    """
    def one(leaf):
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            if not leaf.is_fully_replicated:
                raise ValueError(f"a {leaf.shape} array split over processes has no local copy")
            return leaf.addressable_data(0)
        return leaf
    return jax.tree.map(one, tree)


def process_samples(n: int) -> np.ndarray:
    """The sample indices this process rolls out: block ``p`` of ``ceil(n / P)`` indices.

    The last block is padded with index ``n - 1`` (its results are dropped by
    :func:`gather_samples`), so every process has the same, non-empty work.
    ``arange(n)`` with one process.
    """
    count = jax.process_count()
    per = math.ceil(n / count)
    return np.minimum(np.arange(per) + jax.process_index() * per, n - 1)


def gather_samples(local: np.ndarray, n: int) -> np.ndarray:
    """All ``n`` samples from every process's block (:func:`process_samples`), in every process."""
    if jax.process_count() == 1:
        return local[:n]
    from jax.experimental import multihost_utils

    gathered = np.asarray(multihost_utils.process_allgather(local))  # (P, per, ...)
    return gathered.reshape((-1,) + gathered.shape[2:])[:n]


def process_max(value: int) -> int:
    """The largest of every process's ``value`` (a collective: every process must call it)."""
    if jax.process_count() == 1:
        return int(value)
    from jax.experimental import multihost_utils

    return int(np.max(multihost_utils.process_allgather(np.asarray([int(value)], np.int32))))


def any_process(flag: bool) -> bool:
    """Whether ``flag`` is true in any process (a collective: every process must call it)."""
    return process_max(int(bool(flag))) > 0


@contextlib.contextmanager
def in_process_0(context, what: str):
    """Enter ``context()`` (a context manager factory, e.g. an output's lock) in process 0 only.

    When process 0 cannot enter it (a user error, e.g. the output is locked by
    another job), every process raises (:func:`together`), so none is left
    waiting for it.  With one process this is ``with context():``.
    """
    with contextlib.ExitStack() as stack:
        together(lambda: stack.enter_context(context()) if is_writer() else None, what)
        yield


def together(check, what: str):
    """Run ``check()`` in every process; a user error in one is raised in all of them.

    The failing process raises its own error; the others raise a
    :class:`~neuralpde.config.ConfigError` naming it (its message says why).
    Without this, a refusal in one process (e.g. process 0 finding the output
    locked) would leave the others waiting in the next collective.  With one
    process it is ``check()``.
    """
    if jax.process_count() == 1:
        return check()
    from neuralpde.config import ConfigError, UserInputError

    error, result = None, None
    try:
        result = check()
    except UserInputError as caught:
        error = caught
    if any_process(error is not None) and error is None:
        raise ConfigError(f"another process refused {what} (its message says why); this process "
                          f"{jax.process_index()} stopped with it")
    if error is not None:
        raise error
    return result


def batch_sharding(mesh: Mesh | None = None) -> NamedSharding:
    """Shard the leading axis over the mesh, replicate the rest."""
    return NamedSharding(mesh or batch_mesh(), PartitionSpec(BATCH_AXIS))


def replicated(mesh: Mesh | None = None) -> NamedSharding:
    return NamedSharding(mesh or batch_mesh(), PartitionSpec())


def padded_batch(batch: int, n_devices: int) -> int:
    """The smallest multiple of ``n_devices`` that holds ``batch`` items."""
    return math.ceil(batch / n_devices) * n_devices


def shard_batch(tree, sharding: NamedSharding):
    """Place every leaf of ``tree`` with its leading axis split over the mesh."""
    return jax.device_put(tree, sharding)


#: Set to ``1`` to run a command as one process of several (``jax.distributed``).
DISTRIBUTED_ENV = "NEURALPDE_DISTRIBUTED"

#: The commands that divide their work among several processes.
MULTI_PROCESS_COMMANDS = ("generate", "train", "stagger-train", "evaluate", "stagger-evaluate")
MULTI_PROCESS_COMMANDS_TEXT = ", ".join(f"`neuralpde {c}`" for c in MULTI_PROCESS_COMMANDS)


#: Seconds a process waits for the job to assemble (:func:`initialize_from_environment`).
COORDINATOR_TIMEOUT_ENV = "NEURALPDE_COORDINATOR_TIMEOUT"
DEFAULT_COORDINATOR_TIMEOUT = 300.0
#: Extra seconds JAX's own deadline runs past ours, so that ours (one line) comes first.
_JAX_GRACE = 30
_initialized = {"done": False}


def coordinator_timeout() -> float:
    """``NEURALPDE_COORDINATOR_TIMEOUT`` in seconds (default 300); refused
    (:class:`~neuralpde.config.ConfigError`) unless a finite number > 0."""
    from neuralpde.config import ConfigError

    text = os.environ.get(COORDINATOR_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_COORDINATOR_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"invalid {COORDINATOR_TIMEOUT_ENV}={text!r}: accepted a number of "
                          "seconds > 0 (default 300)")
    return value


def _host_port(address: str) -> tuple:
    """``'host:port'`` (``'[::1]:port'``) -> ``(host, port)``; refused
    (:class:`~neuralpde.config.ConfigError`) naming ``JAX_COORDINATOR_ADDRESS``."""
    from neuralpde.config import ConfigError

    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"invalid JAX_COORDINATOR_ADDRESS={address!r}: accepted host:port of "
                          "process 0 (a port in 1..65535)")
    return host, int(port)


def wait_for_coordinator(address: str, deadline: float, process_id: int, timeout: float) -> None:
    """Return once a TCP connection to ``address`` (``host:port``) opens; raise
    :class:`~neuralpde.config.UserInputError` when none opens before ``deadline``
    (``time.monotonic()``), naming the address and :data:`COORDINATOR_TIMEOUT_ENV`."""
    import socket
    import time

    from neuralpde.config import UserInputError

    host, port = _host_port(address)
    while True:
        left = deadline - time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=max(0.05, min(1.0, left))):
                return
        except OSError as error:
            reason = error.strerror or type(error).__name__
        if time.monotonic() + 0.2 >= deadline:
            raise UserInputError(
                f"process {process_id}: no coordinator answers at {address} "
                f"(JAX_COORDINATOR_ADDRESS; {reason.lower()}) within {timeout:g} s "
                f"({COORDINATOR_TIMEOUT_ENV}): start process 0 (JAX_PROCESS_ID=0) of the job "
                f"with the same address, check its host and port, or raise "
                f"{COORDINATOR_TIMEOUT_ENV}")
        time.sleep(0.2)


def initialize_from_environment(prefix: str = "neuralpde") -> bool:
    """Start ``jax.distributed`` when ``NEURALPDE_DISTRIBUTED=1``; returns whether it did.

    ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process 0),
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` are passed when set; otherwise
    ``jax.distributed.initialize()`` detects SLURM, Open MPI and Cloud TPU
    itself.  On CPU the processes' collectives (the barrier) use Gloo.  Must run
    before anything touches a device.

    The wait is bounded by ``NEURALPDE_COORDINATOR_TIMEOUT`` seconds (default
    300) from the call: a process other than 0 whose coordinator address is
    given first probes it with TCP connections (every 0.2 s) and raises
    :class:`~neuralpde.config.UserInputError` naming the address and the
    variable when nothing answers in time; then a watchdog ends any process
    still inside ``jax.distributed.initialize`` at the deadline (a process
    that never joined, a coordinator that never saw them all) with one line
    starting with ``prefix`` and exit status 2 (``os._exit``), before JAX's
    own deadline (``initialization_timeout``, 30 s later) would abort it with
    a C++ stack trace.  Raises :class:`~neuralpde.config.ConfigError` for an
    unparsable process count, id, address or timeout.
    """
    if os.environ.get(DISTRIBUTED_ENV, "") not in ("1", "true", "yes"):
        return False
    import threading
    import time

    from neuralpde.config import ConfigError

    timeout = coordinator_timeout()
    deadline = time.monotonic() + timeout
    kwargs = {}
    if os.environ.get("JAX_COORDINATOR_ADDRESS"):
        kwargs["coordinator_address"] = os.environ["JAX_COORDINATOR_ADDRESS"]
    for name, key in (("JAX_NUM_PROCESSES", "num_processes"), ("JAX_PROCESS_ID", "process_id")):
        if os.environ.get(name):
            try:
                kwargs[key] = int(os.environ[name])
            except ValueError:
                raise ConfigError(f"invalid {name}={os.environ[name]!r}: accepted an integer "
                                  ">= 0") from None
    address, process_id = kwargs.get("coordinator_address"), kwargs.get("process_id")
    if address and process_id:  # process 0 is the coordinator: the others look for it first
        wait_for_coordinator(address, deadline, process_id, timeout)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    who = "this process" if process_id is None else f"process {process_id}"
    count = kwargs.get("num_processes")

    def give_up():
        sys.stderr.write(
            f"{prefix}: error: the job's {count or 'several'} processes did not all join within "
            f"{timeout:g} s ({COORDINATOR_TIMEOUT_ENV}; {who}, coordinator "
            f"{address or 'detected by JAX'}): start every process (each its own "
            "JAX_PROCESS_ID, the same JAX_COORDINATOR_ADDRESS and JAX_NUM_PROCESSES), or raise "
            f"{COORDINATOR_TIMEOUT_ENV}\n")
        sys.stderr.flush()
        os._exit(2)

    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        jax.distributed.initialize(
            **kwargs, initialization_timeout=int(math.ceil(timeout)) + _JAX_GRACE)
    except (ValueError, RuntimeError) as error:  # no cluster found, coordinator unreachable
        raise ConfigError(f"{DISTRIBUTED_ENV}=1 but jax.distributed could not start ({error}): "
                          "run under SLURM, Open MPI or on a Cloud TPU, or set "
                          "JAX_COORDINATOR_ADDRESS (host:port of process 0), JAX_NUM_PROCESSES "
                          f"and JAX_PROCESS_ID; unset {DISTRIBUTED_ENV} for one process") from None
    finally:
        watchdog.cancel()
    _initialized["done"] = True
    return True


def barrier(name: str) -> None:
    """Wait until every process reaches ``barrier(name)`` (nothing with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def require_one_process(what: str) -> None:
    """Refuse (:class:`~neuralpde.config.ConfigError`) ``what`` in a multi-process run."""
    if jax.process_count() > 1:
        from neuralpde.config import ConfigError

        raise ConfigError(f"{what} runs in one process only (this is process "
                          f"{jax.process_index()} of {jax.process_count()}): unset "
                          f"{DISTRIBUTED_ENV} and run it once; {MULTI_PROCESS_COMMANDS_TEXT} "
                          "divide their work among processes")


def shutdown() -> None:
    """Leave a multi-process job cleanly (``jax.distributed.shutdown``; nothing otherwise).

    A process that leaves without it (``os._exit``) takes the coordination
    service (process 0) or its heartbeat away, and JAX aborts the others.
    """
    if not _initialized["done"]:
        return
    try:
        if jax.process_count() > 1:
            jax.distributed.shutdown()
    except Exception:  # noqa: BLE001 - already leaving with an error reported
        pass

