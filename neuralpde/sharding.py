"""Data parallelism over all local devices with ``jax.sharding``; several processes.

A batch axis (the leading axis of every array) is split over a 1-D
``Mesh`` of the local devices; jit-compiled functions that ``vmap`` over that
axis then run one shard per device with no code change.  With one device
everything is a no-op.

Several processes (hosts): :func:`initialize_from_environment` starts
``jax.distributed`` when ``NEURALPDE_DISTRIBUTED=1`` (the ``neuralpde`` command
calls it first); each process then shards over its own devices, and
:func:`barrier` waits for all of them.  Today ``generate`` divides its sample
batches among the processes (docs/scaling.md); the other commands refuse to
run in more than one process.
"""

from __future__ import annotations

import math
import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

BATCH_AXIS = "batch"


def batch_mesh(devices=None) -> Mesh:
    """A 1-D mesh named ``'batch'`` over ``devices`` (default: all local devices)."""
    devices = jax.local_devices() if devices is None else devices
    return Mesh(np.asarray(devices), (BATCH_AXIS,))


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


def initialize_from_environment() -> bool:
    """Start ``jax.distributed`` when ``NEURALPDE_DISTRIBUTED=1``; returns whether it did.

    ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process 0),
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` are passed when set; otherwise
    ``jax.distributed.initialize()`` detects SLURM, Open MPI and Cloud TPU
    itself.  On CPU the processes' collectives (the barrier) use Gloo.  Must run
    before anything touches a device.  Raises :class:`~neuralpde.config.ConfigError`
    for an unparsable process count or id.
    """
    if os.environ.get(DISTRIBUTED_ENV, "") not in ("1", "true", "yes"):
        return False
    from neuralpde.config import ConfigError

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
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(**kwargs)
    except (ValueError, RuntimeError) as error:  # no cluster found, coordinator unreachable
        raise ConfigError(f"{DISTRIBUTED_ENV}=1 but jax.distributed could not start ({error}): "
                          "run under SLURM, Open MPI or on a Cloud TPU, or set "
                          "JAX_COORDINATOR_ADDRESS (host:port of process 0), JAX_NUM_PROCESSES "
                          f"and JAX_PROCESS_ID; unset {DISTRIBUTED_ENV} for one process") from None
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
                          f"{DISTRIBUTED_ENV} and run it once; only `neuralpde generate` divides "
                          "its work among processes")


def shutdown() -> None:
    """Leave a multi-process job cleanly (``jax.distributed.shutdown``; nothing otherwise).

    A process that leaves without it (``os._exit``) takes the coordination
    service (process 0) or its heartbeat away, and JAX aborts the others.
    """
    if os.environ.get(DISTRIBUTED_ENV, "") in ("1", "true", "yes") and jax.process_count() > 1:
        try:
            jax.distributed.shutdown()
        except Exception:  # noqa: BLE001 - already leaving with an error reported
            pass

