"""The training commands: ``neuralpde train``, ``neuralpde stagger-train`` and
``neuralpde plan`` (memory, FLOPs and time of a run, compiled but not run)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from neuralpde.cli.options import (
    LOOP_OPTIONS,
    STAGGER_OPTIONS,
    TRAIN_OPTIONS,
    HelpFormatter,
    add_options,
    overrides,
    read_by,
    stencil_presets,
    unread_options,
)
from neuralpde.config import ConfigError


def add_train(subparsers) -> None:
    """Add ``neuralpde train`` to ``subparsers``."""
    p = subparsers.add_parser(
        "train", help="train a learned solver on a train store",
        description="Train a learned solver (the finite-volume step with learned convective "
                    "stencils: LI from the current velocity, TSM from the history) on "
                    "DATA/train.zarr, validating on DATA/validation.zarr; checkpoints and "
                    "metrics go to OUT. Re-running the same command resumes the run.",
        formatter_class=HelpFormatter)
    from neuralpde.training.kinds import KINDS, trained_by

    models = trained_by("train")
    p.add_argument("--model", default=models[0], choices=models,
                   help="; ".join(f"{name}: {KINDS[name].description}" for name in models))
    p.add_argument("--data", required=True, help="data folder holding train.zarr and "
                                                  "validation.zarr (test.zarr is never read)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics.jsonl, run.json)")
    p.add_argument("--preset", default="mini",
                   help="training preset: quickstart, mini (CPU) or paper (published)")
    add_options(p, LOOP_OPTIONS + TRAIN_OPTIONS, stencil_presets(), "from --preset")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(handler=_run_train)


def _run_train(args) -> int:
    """Train a learned solver (``neuralpde train``); returns 0."""
    from neuralpde.training.loop import train

    config = _train_config(args)
    _print_history_note(args, config)
    summary = train(config, args.out, data_dir=args.data, progress=not args.no_progress)
    _print_training(summary, args.out, args.data)
    return 0


def _train_config(args):
    """``--preset``'s training config of ``--model`` with the options given; warns (standard
    error, process 0 alone) of the options the model does not read."""
    from neuralpde.config import with_fields
    from neuralpde.training.config import get_train_preset

    config = get_train_preset(args.preset, args.model)
    given = overrides(args, LOOP_OPTIONS + TRAIN_OPTIONS)
    warning = unread_options(config, given, LOOP_OPTIONS + TRAIN_OPTIONS)  # refuses bad values
    config = with_fields(config, **read_by(config, given))
    if warning:
        from neuralpde.sharding import is_writer

        if is_writer():
            print(f"neuralpde train: warning: {warning}", file=sys.stderr)
    return config


def _print_history_note(args, config) -> None:
    """For a model with a temporal memory: the history its memory needs (standard error,
    process 0 alone), after the data folder is checked."""
    from neuralpde.training.kinds import get_kind

    kind = get_kind(args.model)
    if kind.history_encoder is None:
        return
    from neuralpde.models.temporal_stencil import memory_history_note
    from neuralpde.store import open_store
    from neuralpde.training.task import validation_store

    # the data are checked before the memory's needed history is estimated (seconds
    # at high orders), so a missing or bad data folder is reported at once
    train_set = open_store(Path(args.data) / "train.zarr", split="train")
    validation_store(args.data, int(train_set.attrs["model_size"]))
    note = memory_history_note(kind.history_encoder(config.model))
    from neuralpde.sharding import is_writer

    if note and is_writer():
        print(note, file=sys.stderr)


def _print_training(summary: dict, out, data) -> None:
    """The end of a training run (process 0 alone prints in a multi-process job)."""
    from neuralpde.sharding import is_writer
    from neuralpde.solvers.names import run_name
    from neuralpde.training.run_folder import RunFolder

    if not is_writer():
        return
    best = summary.best_validation_duration
    print(f"run: {summary.run}  step {summary.step}  loss {summary.loss:.4g}  "
          f"skipped {summary.skipped}  best validation duration "
          f"{'–' if best is None else f'{best:.3f}'}  {summary.seconds:.0f} s")
    data_arg = shlex.quote(str(data)) if data else "<data folder>"
    print(f"evaluate with: neuralpde evaluate --data {data_arg} --solver "
          f"{shlex.quote(run_name(out))} --out results/")
    print(f"training curves: tensorboard --logdir {RunFolder(out).tensorboard}  (pip install "
          "tensorboard; or read the metrics.jsonl beside it)")


def add_stagger_train(subparsers) -> None:
    """Add ``neuralpde stagger-train`` to ``subparsers``."""
    p = subparsers.add_parser(
        "stagger-train", help="train staggered coarse sub-solvers (NeuralStagger-style)",
        description="Train s^2 x s_T coarse sub-solvers whose interleaved outputs form the fine "
                    "solution, with the physics-constrained loss (discrete Navier-Stokes residual, "
                    "no simulation data) on a state pool, or supervised from DATA/train.zarr; "
                    "with --data, validation on DATA/validation.zarr picks the best checkpoint. "
                    "Checkpoints and metrics.jsonl go to OUT; re-running the same command resumes. "
                    "The training budget starts from the stagger 'mini' training preset.",
        formatter_class=HelpFormatter)
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics.jsonl, run.json)")
    p.add_argument("--preset", default="mini", help="flow and grid of a physics-only run "
                                                     "(quickstart, mini, paper-lite, paper)")
    p.add_argument("--data", help="data folder: train.zarr for the supervised losses, "
                                  "validation.zarr for validation (the flow and grid are then "
                                  "the store's)")
    from neuralpde.training.config import STAGGER_TRAIN_PRESETS

    add_options(p, LOOP_OPTIONS + STAGGER_OPTIONS, STAGGER_TRAIN_PRESETS,
                "from the staggered training preset")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(handler=_run_stagger_train)


def _run_stagger_train(args) -> int:
    """Train staggered sub-solvers (``neuralpde stagger-train``); returns 0."""
    from neuralpde.config import with_fields
    from neuralpde.store.presets import get_preset
    from neuralpde.training.config import get_train_preset
    from neuralpde.training.kinds import trained_by
    from neuralpde.training.loop import train

    preset = get_preset(args.preset)
    if getattr(args, "size", None) is not None and args.size < 1:  # 0 is the config's "unset"
        raise ConfigError(f"invalid size={args.size}: accepted an integer >= 1 (omit --size for "
                          "the store's grid, or the preset's model grid without --data)")
    (kind,) = trained_by("stagger-train")
    config = with_fields(get_train_preset("mini", kind),
                         **overrides(args, LOOP_OPTIONS + STAGGER_OPTIONS))
    if not config.size and args.data is None:
        config = with_fields(config, size=preset.model_size)
    summary = train(config, args.out, data_dir=args.data, flow=preset.flow,
                    progress=not args.no_progress)
    _print_training(summary, args.out, args.data)
    return 0


def add_plan(subparsers) -> None:
    """Add ``neuralpde plan`` to ``subparsers``."""
    from neuralpde.planning import DEVICE_CLASSES
    from neuralpde.training.kinds import trained_by

    p = subparsers.add_parser(
        "plan", help="memory, FLOPs and time of a run, compiled but not run",
        description="Compile (without running) the fine DNS step and a generation block of "
                    "--preset's splits and the training update of each --model, and print each "
                    "step's memory per device (XLA's buffer assignment), its FLOPs and bytes "
                    "(XLA's cost analysis), the stores' sizes and a roofline lower bound of the "
                    "wall time on each --device-class (docs/scaling.md). Without --remat, the "
                    "training update is planned with and without rematerialisation.",
        formatter_class=HelpFormatter)
    p.add_argument("--preset", default="paper", help="data preset: quickstart, mini, paper-lite, "
                                                     "paper")
    p.add_argument("--train-preset", default=None,
                   help="training preset (default: paper for the GPU data presets, else the "
                        "data preset's name)")
    p.add_argument("--model", nargs="+", default=["li", "tsm-hippo"],
                   choices=trained_by("train"), help="models whose update is planned")
    p.add_argument("--devices", type=int, default=1,
                   help="devices the batches are split over (data parallel)")
    p.add_argument("--device-class", nargs="+", default=["h100", "h200", "a100"],
                   choices=sorted(DEVICE_CLASSES), help="device classes to estimate time on")
    p.add_argument("--no-generation", action="store_true", help="plan training only")
    p.add_argument("--no-training", action="store_true", help="plan generation only")
    add_options(p, LOOP_OPTIONS + TRAIN_OPTIONS, stencil_presets(), "from --train-preset")
    p.set_defaults(handler=_run_plan)


def _run_plan(args) -> int:
    """Print the planned memory, FLOPs and time of a run (``neuralpde plan``); returns 0."""
    import jax

    from neuralpde.planning import generation_costs, plan_table, training_cost
    from neuralpde.store.presets import get_preset

    preset = get_preset(args.preset)
    if args.no_generation and args.no_training:
        raise ConfigError("--no-generation and --no-training leave nothing to plan: give at most "
                          "one of them")
    if args.devices < 1:
        raise ConfigError(f"invalid --devices {args.devices}: accepted an integer >= 1")
    train_name = args.train_preset or ("paper" if args.preset.startswith("paper") else args.preset)
    configs = _planned_configs(args, train_name)
    backend = jax.devices()[0]
    print(f"neuralpde plan: data preset {args.preset}, training preset {train_name}, "
          f"{args.devices} device(s); compiled for {backend.platform} "
          f"({getattr(backend, 'device_kind', '')}), nothing run", flush=True)
    costs, sizes = [], {}
    if not args.no_generation:
        split_costs, sizes = generation_costs(preset, args.devices)
        costs += list(split_costs.values())
    for config in configs:
        print(f"  compiling the {config.kind} update (remat {'on' if config.remat else 'off'})",
              flush=True)
        costs.append(training_cost(config, preset.flow, preset.model_size, args.devices))
    print()
    print(plan_table(costs, args.device_class))
    _print_plan_notes(sizes, args.device_class)
    return 0


def _planned_configs(args, train_name: str) -> list:
    """The training configs ``neuralpde plan`` compiles: ``train_name``'s of each ``--model``
    with the options given, with and without rematerialisation unless ``--remat`` is given
    (none with ``--no-training``)."""
    from neuralpde.config import with_fields
    from neuralpde.training.config import get_train_preset

    given = overrides(args, LOOP_OPTIONS + TRAIN_OPTIONS)
    configs = []
    for model in ([] if args.no_training else args.model):
        base = get_train_preset(train_name, model)
        base = with_fields(base, **read_by(base, given))
        if base.batch_size % args.devices:  # refused before anything is compiled
            raise ConfigError(f"invalid batch_size={base.batch_size}: accepted a multiple of "
                              f"--devices {args.devices}")
        remats = [base.remat] if given.get("remat") is not None else [False, True]
        configs += [with_fields(base, remat=r) for r in remats]
    return configs


def _print_plan_notes(sizes: dict, device_classes) -> None:
    """The stores' sizes (``sizes``: split -> bytes; none: nothing) and what the plan's times
    are, on each of ``device_classes``."""
    from neuralpde.planning import DEVICE_CLASSES, format_bytes

    if sizes:
        print("\nstores (uncompressed float32): " + ", ".join(
            f"{split} {format_bytes(size)}" for split, size in sizes.items()))
    print("\ntimes: roofline lower bounds for the whole job per device (generation: fine steps "
          "of every batch; training: every update), at " + "; ".join(
              f"{DEVICE_CLASSES[d].name}: {DEVICE_CLASSES[d].fp32_flops / 1e12:g} (FP32) / "
              f"{DEVICE_CLASSES[d].tensor_flops / 1e12:g} (tensor) TFLOP/s, "
              f"{DEVICE_CLASSES[d].bandwidth / 1e12:g} TB/s, "
              f"{format_bytes(DEVICE_CLASSES[d].memory)}" for d in device_classes))
