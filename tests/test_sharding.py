"""Unit tests of :mod:`neuralpde.sharding` in one process.

Covers the helpers as they behave on this process's CPU device(s): the 1-D ``'batch'``
mesh (:func:`batch_mesh`, :func:`global_mesh`) and its shardings
(:func:`batch_sharding`, :func:`replicated`, :func:`shard_batch`), the padding of a
batch to a multiple of the devices (:func:`padded_batch`), this process's rows and
samples (:func:`local_rows`, :func:`global_batch`, :func:`process_samples`,
:func:`gather_samples`, :func:`local_copy`), the one-process forms of the collectives
(:func:`process_max`, :func:`any_process`, :func:`together`, :func:`in_process_0`,
:func:`barrier`, :func:`require_one_process`, :func:`is_writer`), and the parsing of
the distributed settings (:func:`coordinator_timeout`, :func:`wait_for_coordinator`,
:func:`initialize_from_environment` refusing bad values before starting anything).
One test runs a subprocess with 4 simulated CPU devices to split a batch that the
devices divide, and to show that one they do not divide is refused unless padded.
Several processes are tested in test_distributed.py.
"""

import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec

from neuralpde.config import ConfigError, UserInputError
from neuralpde.sharding import (
    BATCH_AXIS,
    COORDINATOR_TIMEOUT_ENV,
    DEFAULT_COORDINATOR_TIMEOUT,
    DISTRIBUTED_ENV,
    any_process,
    barrier,
    batch_mesh,
    batch_sharding,
    coordinator_timeout,
    gather_samples,
    global_batch,
    global_mesh,
    in_process_0,
    initialize_from_environment,
    is_writer,
    local_copy,
    local_rows,
    padded_batch,
    process_max,
    process_samples,
    replicated,
    require_one_process,
    shard_batch,
    shutdown,
    together,
    wait_for_coordinator,
)

REPO = Path(__file__).resolve().parents[1]


def test_batch_mesh_is_one_axis_over_the_local_devices():
    mesh = batch_mesh()
    assert mesh.axis_names == (BATCH_AXIS,) == ("batch",)
    assert list(mesh.devices) == jax.local_devices() and mesh.size == jax.local_device_count()
    one = batch_mesh(jax.local_devices()[:1])
    assert one.size == 1 and one.devices.tolist() == jax.local_devices()[:1]
    assert global_mesh().size == jax.device_count()  # one process: every device is local
    assert list(global_mesh().devices) == jax.devices()


def test_batch_sharding_splits_the_leading_axis_and_replicated_splits_none():
    mesh = batch_mesh()
    assert batch_sharding(mesh).spec == PartitionSpec(BATCH_AXIS)
    assert replicated(mesh).spec == PartitionSpec()
    assert batch_sharding().mesh.axis_names == (BATCH_AXIS,)  # default mesh: the local devices
    assert replicated().mesh.size == jax.local_device_count()


@pytest.mark.parametrize(("batch", "devices", "padded"),
                         [(1, 1, 1), (5, 1, 5), (3, 4, 4), (8, 4, 8), (9, 4, 12), (0, 4, 0)])
def test_padded_batch_is_the_smallest_multiple_of_the_devices(batch, devices, padded):
    assert padded_batch(batch, devices) == padded
    assert padded % devices == 0 and padded - devices < batch <= padded


def test_shard_batch_places_every_leaf_without_changing_values():
    sharding = batch_sharding()
    tree = {"a": np.arange(12.0).reshape(4, 3), "b": (np.ones((4,), np.int32),)}
    placed = shard_batch(tree, sharding)
    assert placed["a"].sharding == sharding and placed["b"][0].sharding == sharding
    np.testing.assert_array_equal(placed["a"], tree["a"])
    np.testing.assert_array_equal(placed["b"][0], tree["b"][0])


def test_this_process_holds_every_row_sample_and_copy():
    sharding = batch_sharding()
    assert local_rows(sharding, 6) == slice(0, 6)
    local = np.arange(12.0).reshape(6, 2)
    array = global_batch(local, sharding, 6)
    assert isinstance(array, jax.Array) and array.sharding == sharding
    np.testing.assert_array_equal(array, local)
    np.testing.assert_array_equal(process_samples(5), np.arange(5))
    np.testing.assert_array_equal(gather_samples(np.arange(7) * 2, 5), np.arange(5) * 2)
    tree = {"w": jnp.arange(3.0), "name": "li", "n": 4}
    copied = local_copy(tree)
    assert copied["w"] is tree["w"] and copied["name"] == "li" and copied["n"] == 4


def test_one_process_collectives_are_their_local_values():
    assert is_writer()
    assert process_max(7) == 7 and process_max(np.int64(-2)) == -2
    assert any_process(True) and not any_process(False)
    assert together(lambda: 42, "the check") == 42
    with pytest.raises(ConfigError, match="mine"):
        together(lambda: (_ for _ in ()).throw(ConfigError("mine")), "the check")
    barrier("nothing to wait for")  # returns at once
    require_one_process("this command")  # one process: allowed
    shutdown()  # jax.distributed never started: nothing to leave


def test_in_process_0_enters_the_context_once_and_leaves_it():
    events = []

    @contextlib.contextmanager
    def lock():
        events.append("enter")
        yield
        events.append("exit")

    with in_process_0(lock, "the lock"):
        events.append("body")
    assert events == ["enter", "body", "exit"]

    @contextlib.contextmanager
    def refused():
        raise ConfigError("the output is locked")
        yield  # pragma: no cover

    with pytest.raises(ConfigError, match="the output is locked"):
        with in_process_0(refused, "the lock"):
            events.append("never")
    assert "never" not in events


@pytest.mark.parametrize(("text", "seconds"),
                         [(None, DEFAULT_COORDINATOR_TIMEOUT), ("", DEFAULT_COORDINATOR_TIMEOUT),
                          ("12.5", 12.5), (" 3 ", 3.0)])
def test_coordinator_timeout_reads_the_environment(monkeypatch, text, seconds):
    if text is None:
        monkeypatch.delenv(COORDINATOR_TIMEOUT_ENV, raising=False)
    else:
        monkeypatch.setenv(COORDINATOR_TIMEOUT_ENV, text)
    assert coordinator_timeout() == seconds
    assert DEFAULT_COORDINATOR_TIMEOUT == 300.0


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "soon"])
def test_coordinator_timeout_refuses_what_is_not_a_positive_number(monkeypatch, text):
    monkeypatch.setenv(COORDINATOR_TIMEOUT_ENV, text)
    with pytest.raises(ConfigError, match=f"invalid {COORDINATOR_TIMEOUT_ENV}={text!r}"):
        coordinator_timeout()


def test_wait_for_coordinator_returns_once_the_address_answers():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        start = time.monotonic()
        wait_for_coordinator(f"127.0.0.1:{port}", start + 5, process_id=1, timeout=5)
        assert time.monotonic() - start < 2


def test_wait_for_coordinator_gives_up_at_the_deadline_naming_the_address():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UserInputError) as caught:
        wait_for_coordinator(f"127.0.0.1:{port}", time.monotonic() + 0.3, process_id=2,
                             timeout=0.3)
    message = str(caught.value)
    assert f"process 2: no coordinator answers at 127.0.0.1:{port}" in message
    assert COORDINATOR_TIMEOUT_ENV in message


@pytest.mark.parametrize("address", ["localhost", "localhost:http", ":1234", "host:0",
                                     "host:70000"])
def test_wait_for_coordinator_refuses_an_address_that_is_not_host_port(address):
    with pytest.raises(ConfigError, match=f"invalid JAX_COORDINATOR_ADDRESS={address!r}"):
        wait_for_coordinator(address, time.monotonic() + 1, process_id=1, timeout=1)


def test_initialize_from_environment_does_nothing_unless_asked(monkeypatch):
    monkeypatch.delenv(DISTRIBUTED_ENV, raising=False)
    assert initialize_from_environment() is False
    monkeypatch.setenv(DISTRIBUTED_ENV, "0")
    assert initialize_from_environment() is False


@pytest.mark.parametrize(("name", "value"), [("JAX_NUM_PROCESSES", "two"),
                                             ("JAX_PROCESS_ID", "first"),
                                             (COORDINATOR_TIMEOUT_ENV, "never")])
def test_initialize_from_environment_refuses_bad_settings_before_starting(monkeypatch, name,
                                                                          value):
    for other in ("JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "JAX_COORDINATOR_ADDRESS",
                  COORDINATOR_TIMEOUT_ENV):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(DISTRIBUTED_ENV, "1")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"invalid {name}={value!r}"):
        initialize_from_environment()
    assert jax.process_count() == 1  # nothing was started


FOUR_DEVICES = textwrap.dedent("""
    import jax, numpy as np
    from neuralpde.sharding import (batch_mesh, batch_sharding, local_rows, padded_batch,
                                    shard_batch)
    mesh = batch_mesh()
    sharding = batch_sharding(mesh)
    placed = shard_batch(np.arange(8.0 * 3).reshape(8, 3), sharding)
    rows = sorted((s.index[0].start, s.index[0].stop) for s in placed.addressable_shards)
    print("mesh", mesh.size, "rows", rows, "local", local_rows(sharding, 8))
    print("padded", padded_batch(6, mesh.size))
    try:
        shard_batch(np.zeros((6, 3)), sharding)
        print("six placed")
    except ValueError as error:
        print("six refused")
    print("padded placed", shard_batch(np.zeros((padded_batch(6, 4), 3)), sharding).shape)
""")


def test_four_devices_split_a_batch_they_divide_and_refuse_one_they_do_not():
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS":
           os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"}
    result = subprocess.run([sys.executable, "-c", FOUR_DEVICES], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "mesh 4 rows [(0, 2), (2, 4), (4, 6), (6, 8)] local slice(0, 8, None)",
        "padded 8",
        "six refused",
        "padded placed (8, 3)",
    ]
