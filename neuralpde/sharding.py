"""Data parallelism over all local devices with ``jax.sharding``.

A batch axis (the leading axis of every array) is split over a 1-D
``Mesh`` of the local devices; jit-compiled functions that ``vmap`` over that
axis then run one shard per device with no code change.  With one device
everything is a no-op.  Multi-host runs call ``jax.distributed.initialize()``
first (see docs/scaling.md); each host then shards over its own devices.
"""

from __future__ import annotations

import math

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
