"""Scale: rematerialised training updates and the compile-only planner (``neuralpde plan``)."""

import jax
import jax.numpy as jnp
import numpy as np

from neuralpde.config import with_fields
from neuralpde.models.config import LIConfig
from neuralpde.solvers.learned import build_li_solver
from neuralpde.store import open_store
from neuralpde.store.reading import store_flow
from neuralpde.training.config import get_train_preset
from neuralpde.training.losses import window_loss


def test_remat_gives_the_loss_and_gradients_of_the_plain_update(tiny_data):
    train = open_store(tiny_data / "train.zarr")
    solver = build_li_solver(LIConfig(hidden=4, depth=1), 0, store_flow(train), 8)
    window = jnp.stack([train.u.values[0, :3], train.v.values[0, :3]], axis=1)  # 1 + 2 steps

    def loss(params, remat):
        return window_loss(solver.with_params(params), window, remat=remat)

    gradient = jax.jit(jax.value_and_grad(loss), static_argnums=1)
    plain, remat = gradient(solver.params, False), gradient(solver.params, True)
    np.testing.assert_allclose(remat[0], plain[0], rtol=1e-6)
    for a, b in zip(jax.tree.leaves(remat[1]), jax.tree.leaves(plain[1])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7 * float(jnp.abs(b).max()))


def test_plan_prints_memory_flops_sizes_and_times_without_running(tiny_data, capsys):
    """`neuralpde plan`: rows for the three splits and the update with and without remat;
    remat keeps one call's activations instead of four, for one more forward pass; the
    plain figure (a rolled scan) bounds the Python-unrolled update that training runs."""
    from neuralpde.cli import main
    from neuralpde.planning import compiled_cost
    from neuralpde.training.optim import make_optimizer
    from neuralpde.training.windowed import make_windowed_step

    argv = ["plan", "--preset", "quickstart", "--model", "li", "--hidden", "16", "--depth", "1",
            "--unroll", "4", "--batch-size", "1", "--device-class", "h100", "tpu-v5e"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 3 + 2, out  # header, three splits, the update with and without remat
    assert "remat off" in out and "remat on" in out and "one 128² DNS step, batch 2" in out
    assert "stores (uncompressed float32): train " in out and "nothing run" in out
    assert all(row.count("|") == 8 for row in rows)
    plain, remat = [row.split("|") for row in rows if "| train li" in row]
    units = {"kB": 1e3, "MB": 1e6, "GB": 1e9}
    memory = [float(r[2].split()[0]) * units[r[2].split()[1]] for r in (plain, remat)]
    assert memory[1] < 0.5 * memory[0], out
    assert 1.05 < float(remat[3]) / float(plain[3]) < 1.8, out
    # the update training runs (calls unrolled in Python) needs no more than the plan says
    config = with_fields(get_train_preset("quickstart"), hidden=16, depth=1, unroll=4)
    solver = build_li_solver(config.model, 0, store_flow(open_store(tiny_data / "train.zarr")),
                             32)
    optimizer = make_optimizer(config)
    params = jax.eval_shape(lambda: solver.params)
    scalar = jax.ShapeDtypeStruct((), jnp.int32)
    run = compiled_cost(make_windowed_step(solver, optimizer, "mse"), params,
                        jax.eval_shape(optimizer.init, params), {}, scalar,
                        jax.ShapeDtypeStruct((1, 5, 2, 32, 32), jnp.float32), scalar)
    assert run[0] <= memory[0] and abs(run[1] / 1e9 - float(plain[3])) < 0.05 * run[1] / 1e9
    # bad input: one line, exit 2
    assert main(argv + ["--devices", "0"]) == 2
    assert "invalid --devices 0" in capsys.readouterr().err
    assert main(argv + ["--no-generation", "--no-training"]) == 2
    assert "leave nothing to plan" in capsys.readouterr().err
    assert main(argv + ["--devices", "4", "--no-generation"]) == 2
    assert "invalid batch_size=1: accepted a multiple of --devices 4" in capsys.readouterr().err
