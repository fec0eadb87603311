"""The ``neuralpde`` command line: ``quickstart | generate | export | evaluate | compare | train |
stagger-train | stagger-evaluate | import | plan | pretrained``.

Every sub-command validates its options and exits with status 2 and a
one-line message naming the bad value and the accepted range.  Options that
set config fields are declared once, as ``(flags, field, argparse kwargs)``
tables (:data:`LOOP_OPTIONS`, :data:`TRAIN_OPTIONS`, :data:`STAGGER_OPTIONS`),
and turned into config overrides by :func:`overrides`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import re
import shlex
import sys
from pathlib import Path

from neuralpde.config import ConfigError, UserInputError, printable
from neuralpde.models.config import FEATURE_NORMS, HIPPO_MEASURES

FLOW_OPTIONS = ("viscosity", "domain_size", "forcing_wavenumber", "linear_drag",
                "max_velocity", "peak_wavenumber", "courant")

#: Options of every training command: (flags, config field, argparse kwargs).
LOOP_OPTIONS = (
    (("--steps",), "steps", dict(type=int, help="optimiser updates")),
    (("--batch-size",), "batch_size", dict(type=int, help="windows (or pool states) per update, "
                                                          "a multiple of the device count")),
    (("--hidden",), "hidden", dict(type=int, help="conv tower width")),
    (("--depth",), "depth", dict(type=int, help="conv tower hidden layers")),
    (("--lr",), "peak_lr", dict(type=float, help="peak learning rate")),
    (("--checkpoint-every",), "checkpoint_every", dict(type=int, help="checkpoint every K steps")),
    (("--validate-every",), "validate_every",
     dict(type=int, help="validation every K steps (0: at the end); needs a data folder")),
    (("--validation-samples",), "validation_samples",
     dict(type=int, help="validation trajectories rolled out")),
    (("--validation-horizon",), "validation_horizon",
     dict(type=float, help="time units rolled out for validation")),
    (("--seed",), "seed", dict(type=int, help="initial weights and the order of the data")),
)
#: Options of ``neuralpde train`` (LI, TSM) besides :data:`LOOP_OPTIONS`.
TRAIN_OPTIONS = (
    (("--unroll",), "unroll", dict(type=int, help="model steps unrolled per window (TSM: a "
                                                  "multiple of the bundle)")),
    (("--order",), "order", dict(type=int, help="polynomial order of the stencil constraint")),
    (("--prefix",), "prefix", dict(type=int, help="TSM: frames encoded before the rollout (K)")),
    (("--bundle",), "bundle", dict(type=int, help="TSM: steps per network call (B)")),
    (("--hippo-measure",), "hippo_measure",
     dict(choices=HIPPO_MEASURES, help="TSM-HiPPO: measure")),
    (("--hippo-order",), "hippo_order",
     dict(type=int, help="TSM-HiPPO: memory order N per cell and component")),
    (("--hippo-theta",), "hippo_theta",
     dict(type=float, help="TSM-HiPPO with legt: window in frames (0: the prefix)")),
    (("--feature-norm",), "feature_norm",
     dict(choices=FEATURE_NORMS,
          help="TSM: rms divides each feature channel by its RMS over training prefixes")),
    (("--decompose",), "decompose",
     dict(type=int, help="run the tower on the s² interleaved sub-fields at N/s (1: off)")),
    (("--loss",), "loss", dict(choices=("mse", "relative_mse"), help="training loss")),
    (("--train-trajectories",), "train_trajectories",
     dict(type=int, help="train on the first K trajectories of train.zarr only (0: all)")),
    (("--remat",), "remat",
     dict(action=argparse.BooleanOptionalAction,
          help="rematerialise each unrolled step in the backward pass: the same gradients in "
               "far less memory, about a third more compute")),
)
#: Options of ``neuralpde stagger-train`` besides :data:`LOOP_OPTIONS`.
STAGGER_OPTIONS = (
    (("--s",), "s", dict(type=int, help="spatial factor: s^2 sub-fields on (N/s)^2 (default 2)")),
    (("--s-time",), "s_time", dict(type=int, help="temporal factor s_T: fine steps per call "
                                                  "(default 1)")),
    (("--size",), "size", dict(type=int, help="fine grid N (default: the preset's model grid, "
                                              "or the store's)")),
    (("--loss",), "loss", dict(choices=("physics", "supervised", "both"),
                               help="physics-constrained (default), supervised from --data, "
                                    "or both")),
    (("--pool-size",), "pool_size", dict(type=int, help="states in the training pool")),
    (("--spinup-time",), "spinup_time",
     dict(type=float, help="pool seeds: DNS spin-up of T time units first (default 40: the "
                           "stationary regime)")),
    (("--warmup-time",), "warmup_time",
     dict(type=float, help="pool seeds: a further DNS run of U(0, T) time units each")),
    (("--weights",), "weights", dict(choices=("shared", "separate", "joint"),
                                     help="sub-solver weights")),
    (("--embedding",), "embedding", dict(choices=("learned", "onehot", "none"),
                                         help="sub-task embedding of shared weights")),
    (("--view",), "view", dict(choices=("all", "own"), help="what a sub-solver sees")),
    (("--project",), "project",
     dict(action=argparse.BooleanOptionalAction, default=None,
          help="pressure-project the rebuilt fine frames (exactly divergence-free; one global "
               "FFT solve per frame)")),
    (("--quadratic-input",), "quadratic_input",
     dict(action=argparse.BooleanOptionalAction, default=None,
          help="also feed the products u^2, uv, v^2 of every cell to the sub-solvers")),
    (("--convection",), "convection", dict(choices=("van_leer", "central"),
                                           help="convection in the residual")),
    (("--time-scheme",), "time_scheme",
     dict(choices=("forward_euler", "crank_nicolson"),
          help="time scheme of the residual (default forward_euler: the DNS's own)")),
    (("--div-weight",), "div_weight", dict(type=float, help="weight of the divergence term")),
)


def _preset_value(configs, field: str):
    """``field`` of a training config or of its model config; of several configs (a preset's
    for each kind), of the first that has it."""
    for config in configs if isinstance(configs, tuple) else (configs,):
        if hasattr(config, field):
            return getattr(config, field)
        if hasattr(config.model, field):
            return getattr(config.model, field)
    raise AttributeError(field)


def stencil_presets() -> dict:
    """Each training preset of ``neuralpde train``, as its configs for every kind it trains
    (for the help of the options: a TSM field's value is the TSM kinds')."""
    from neuralpde.training.config import TRAIN_PRESETS, get_train_preset
    from neuralpde.training.kinds import trained_by

    return {name: tuple(get_train_preset(name, kind) for kind in trained_by("train"))
            for name in TRAIN_PRESETS}


def read_by(config, given: dict) -> dict:
    """The overrides among ``given`` that ``config`` or its model has: an option of other kinds
    (TSM's for LI, TSM-HiPPO's for TSM-CNN) is accepted and ignored, as the kind reads no
    such field."""
    import dataclasses

    names = ({f.name for f in dataclasses.fields(config)}
             | {f.name for f in dataclasses.fields(config.model)})
    return {field: value for field, value in given.items() if field in names}


def unread_options(config, given: dict, options) -> str | None:
    """The options among ``given`` (field -> value, None: not given) that ``config``'s kind
    does not read, as one warning line (None when there are none), after checking their
    values against the range of the kinds that do read them.

    An option of another kind is ignored (:func:`read_by`), but a value no kind accepts
    (``--bundle 0``) raises :class:`ConfigError` naming the field and the accepted range,
    whatever ``--model`` is.
    """
    import dataclasses

    from neuralpde.models.config import STENCIL_CONFIGS

    explicit = {field: value for field, value in given.items() if value is not None}
    ignored = {field: value for field, value in explicit.items()
               if field not in read_by(config, explicit)}
    if not ignored:
        return None
    readers = {}  # field -> the kinds that read it
    for cls in STENCIL_CONFIGS:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {field: value for field, value in ignored.items() if field in names}
        if values:
            if "hippo_theta" in values and "hippo_measure" not in values:
                values["hippo_measure"] = "legt"  # the measure with a window: theta's own range
            cls(**values)  # ConfigError: invalid <field>=<value>: accepted ...
        for field in values:
            readers.setdefault(field, []).append(cls.kind_name)
    flags = {field: names[0] for names, field, _ in options}
    groups = {}  # the kinds that read them -> the options
    for field in ignored:
        groups.setdefault(tuple(readers.get(field, ())), []).append(flags.get(field, field))
    parts = []
    for kinds, names in groups.items():
        owner = ("TSM" if len(kinds) > 1 and all(k.startswith("tsm-") for k in kinds)
                 else ", ".join(kinds) or "other commands'")
        parts.append(f"{', '.join(names)} ({owner} options)")
    return (f"--model {config.kind} does not read {', '.join(parts)}; ignored")


def add_options(parser: argparse.ArgumentParser, options, presets=None, label="preset") -> None:
    """Add ``(flags, field, kwargs)`` options whose destination is the config field.

    An option the user does not give is absent from the namespace (its value
    comes from the preset), so help shows no "(default: None)"; with
    ``presets`` (name -> config) the help lists each preset's value instead,
    unless the help text already states the default.
    """
    for flags, field, kwargs in options:
        kwargs = dict(kwargs)
        if kwargs.get("default") is None:
            kwargs["default"] = argparse.SUPPRESS
        if presets and "default" not in kwargs.get("help", ""):
            values = ", ".join(f"{name} {_preset_value(config, field)!s}"
                               for name, config in presets.items())
            kwargs["help"] = f"{kwargs.get('help', '')} ({label}: {values})"
        parser.add_argument(*flags, dest=field, **kwargs)


def overrides(args: argparse.Namespace, options) -> dict:
    """The config overrides the user gave among ``options`` (the others are None: the preset's)."""
    return {field: getattr(args, field, None) for _, field, _ in options}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows a default only where there is one (no "(default: None)")."""

    def _get_help_string(self, action):
        if action.default is None or action.required:
            return action.help
        return super()._get_help_string(action)


#: Options of ``neuralpde generate``: (flags, dest, argparse kwargs); unset ones come from
#: the preset, whose values the help lists (:func:`_generate_preset_values`).
GENERATE_OPTIONS = (
    (("--samples",), "samples", dict(type=int, help="trajectories per split")),
    (("--duration",), "duration", dict(type=float, help="saved time units per trajectory")),
    (("--warmup",), "warmup", dict(type=float, help="time units integrated and discarded first")),
    (("--save-every",), "save_every", dict(type=int, help="model steps between saved frames")),
    (("--seed",), "seed", dict(type=int, help="base PRNG seed in [0, 2^31-1]; sample i of split s "
                                              "uses fold_in(fold_in(PRNGKey(seed), stream of s), "
                                              "i), so the splits never share an initial "
                                              "condition")),
    (("--history",), "history", dict(type=int, help="model-step frames kept up to t = 0 (the "
                                                    "prefix TSM encodes; 0: none)")),
    (("--model-size",), "model_size", dict(type=int, help="model grid cells per side")),
    (("--fine-size",), "fine_size", dict(type=int, help="reference DNS grid, a multiple of the "
                                                        "model grid")),
    (("--reference-solver",), "reference_solver", dict(choices=("fv", "spectral"), help=(
        "reference DNS: fv (finite volume, van Leer; the published protocol's) or spectral "
        "(pseudo-spectral, 2/3-rule dealiasing, Crank-Nicolson RK4)"))),
    (("--warmup-size",), "warmup_size", dict(type=int, help=(
        "grid of a cheaper finite-volume warm-up, refined to the reference grid --refine-time "
        "before t = 0 (0: the reference integrates the whole warm-up)"))),
    (("--refine-time",), "refine_time", dict(type=float, help=(
        "time units before t = 0 integrated on the reference grid after the coarse warm-up"))),
    (("--initial-sizes",), "initial_sizes", dict(type=int, nargs="*", help=(
        "extra grids whose first test frame is stored (coarse DNS baselines); none: give the "
        "flag alone"))),
    (("--batch-size",), "batch_size", dict(type=int, help="trajectories integrated together")),
    (("--time-chunk",), "time_chunk", dict(type=int, help="frames per zarr chunk / resumable "
                                                          "block")),
    (("--flow",), "flow", dict(choices=("kolmogorov", "decaying"), help="flow type")),
    (("--viscosity",), "viscosity", dict(type=float,
                                         help="kinematic viscosity (Re = 1/viscosity)")),
    (("--domain-size",), "domain_size", dict(type=float, help="side L of the periodic domain "
                                                              "[0, L]^2 (4π: 12.566370614359172)")),
    (("--forcing-wavenumber",), "forcing_wavenumber", dict(type=int, help="k_f of the forcing "
                                                                          "sin(k_f y)")),
    (("--linear-drag",), "linear_drag", dict(type=float, help="drag coefficient mu in -mu u")),
    (("--max-velocity",), "max_velocity", dict(type=float, help="initial max speed and CFL "
                                                                "velocity scale")),
    (("--peak-wavenumber",), "peak_wavenumber", dict(type=float, help="spectral peak of the "
                                                                      "initial condition")),
    (("--courant",), "courant", dict(type=float, help="CFL number of the model time step, in "
                                                      "(0, 1]")),
)
#: Generation presets listed in help (quickstart's data are made by `neuralpde quickstart`).
GENERATE_PRESETS = ("mini", "paper-lite", "paper")


def _generate_preset_values(dest: str) -> str:
    """``'mini X, paper-lite Y, paper Z'``: the value each preset gives option ``dest``
    (per split where the splits differ: ``train/validation/test``)."""
    from neuralpde.store.presets import get_preset

    def value(preset):
        if dest in ("samples", "duration", "warmup", "save_every", "seed", "history"):
            field = "n_samples" if dest == "samples" else dest
            values = [getattr(preset.split(s), field) for s in ("train", "validation", "test")]
            return str(values[0]) if len(set(values)) == 1 else "/".join(map(str, values))
        if dest == "flow":
            return type(preset.flow).__name__.replace("Flow", "").lower()
        if dest in FLOW_OPTIONS:
            return f"{getattr(preset.flow, dest, '-'):g}" if isinstance(
                getattr(preset.flow, dest, None), float) else str(getattr(preset.flow, dest, "-"))
        found = getattr(preset, dest)
        return " ".join(map(str, found)) or "none" if isinstance(found, tuple) else str(found)

    return ", ".join(f"{name} {value(get_preset(name))}" for name in GENERATE_PRESETS)


def _add_generate(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="generate DNS train/test trajectory stores",
        description="Integrate Kolmogorov (or decaying) turbulence on the fine grid, "
                    "downsample to the model grid and write <out>/{train,validation,test}.zarr. "
                    "Interrupted runs resume; finished stores are left alone.",
        formatter_class=_HelpFormatter)
    p.add_argument("--preset", default="mini",
                   help="quickstart or mini (2-core CPU), paper-lite or paper (GPU)")
    p.add_argument("--out", required=True, help="output folder; stores go to OUT/<split>.zarr")
    p.add_argument("--split", choices=("train", "validation", "test", "all"), default="all",
                   help="which split to generate (training fits on train, selects checkpoints on "
                        "validation; only evaluation reads test)")
    for flags, dest, kwargs in GENERATE_OPTIONS:
        kwargs = dict(kwargs, default=argparse.SUPPRESS)
        kwargs["help"] += f" (preset: {_generate_preset_values(dest)})"
        p.add_argument(*flags, dest=dest, **kwargs)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(handler=_run_generate)


def _run_generate(args) -> int:
    from neuralpde.store.generate import generate
    from neuralpde.store.presets import get_preset, with_overrides

    given = {dest: getattr(args, dest, None) for _, dest, _ in GENERATE_OPTIONS}
    flow = {name: given[name] for name in FLOW_OPTIONS if given[name] is not None}
    preset = with_overrides(
        get_preset(args.preset), flow=flow or None, flow_kind=given["flow"],
        n_samples=given["samples"], duration=given["duration"], warmup=given["warmup"],
        save_every=given["save_every"], seed=given["seed"], history=given["history"],
        model_size=given["model_size"], fine_size=given["fine_size"],
        initial_sizes=tuple(given["initial_sizes"]) if given["initial_sizes"] is not None
        else None, batch_size=given["batch_size"], time_chunk=given["time_chunk"],
        reference_solver=given["reference_solver"], warmup_size=given["warmup_size"],
        refine_time=given["refine_time"], split=None if args.split == "all" else args.split)
    splits = preset.splits if args.split == "all" else (args.split,)
    paths = generate(preset, args.out, splits=splits, progress=not args.no_progress)
    from neuralpde.sharding import is_writer

    if is_writer():  # one report for all processes
        for split, path in paths.items():
            print(f"{split}: {path}  {warmup_report(path)}")
    return 0


def warmup_report(path) -> str:
    """The end-of-warm-up energy and enstrophy of a store next to the stationary reference."""
    from neuralpde.store import open_store

    ds = open_store(path)
    if "energy_t0" not in ds:
        return ""
    parts = []
    for name, label in (("energy", "energy"), ("enstrophy", "enstrophy")):
        values = ds[f"{name}_t0"].values
        reference = ds.attrs.get(f"stationary_{name}")
        ref = f"stationary {reference:.3g}" if reference else "stationary mean not measured"
        parts.append(f"{label} at t = 0 {values.mean():.3g} ± {values.std():.2g} ({ref})")
    return "; ".join(parts)


def _add_export(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a trajectory store to netCDF",
                              description="Write a complete store to one netCDF file.")
    p.add_argument("store", help="path of a .zarr trajectory store")
    p.add_argument("out", help="netCDF file to write")
    p.set_defaults(handler=_run_export)


def _run_export(args) -> int:
    from neuralpde.store.export import export_netcdf

    print(export_netcdf(args.store, args.out))
    return 0


def _add_evaluate(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="roll solvers out on the test set and score them",
        description="Roll each solver out from the test store's initial states, compare with the "
                    "reference on the model grid and write OUT/<solver>/{summary.json, metrics.nc, "
                    "trajectory.zarr}.",
        formatter_class=_HelpFormatter)
    p.add_argument("--data", required=True, help="data folder holding test.zarr")
    p.add_argument("--solver", action="append", required=True,
                   help="solver to evaluate (repeatable): dns, dns-N, weno5-js[-N], weno5-z[-N] (N "
                        "a multiple of the model grid), spectral[-N] (pseudo-spectral, N even, >= "
                        "8, up to the reference grid), run:<training run folder> (LI, TSM, "
                        "staggered), run:<staggered run folder>#coarse[=a,b] (one sub-solver "
                        "alone, against the same sub-field of the reference), pretrained:<name> "
                        "(weights shipped with the package: `neuralpde pretrained` lists them) or "
                        "pretrained:<weights .npz>, or file:<zarr or .nc> (a rollout produced "
                        "elsewhere: u, v or vorticity over sample, time, x, y on the model grid; "
                        "docs/solvers.md)")
    p.add_argument("--out", required=True, help="results folder")
    _add_scoring_options(p)
    p.add_argument("--threshold", type=float, default=0.8,
                   help="high-correlation threshold, in (0, 1)")
    p.add_argument("--preset", help="refuse a test store made for another preset")
    p.add_argument("--transfer", action="store_true",
                   help="run trained models (run:<folder>) on the store's flow and grid even if "
                        "they were trained on another (generalisation tests)")
    p.set_defaults(handler=_run_evaluate)


def _add_scoring_options(p) -> None:
    """The rollout options every evaluating command shares (neuralpde.evaluation.scoring)."""
    p.add_argument("--horizon", type=float,
                   help="time units to roll out (default: the whole test span)")
    p.add_argument("--samples", type=int, help="test trajectories to use (default: all)")


def _run_evaluate(args) -> int:
    from neuralpde.registry import evaluate

    rows = evaluate(args.solver, args.data, args.out, horizon=args.horizon,
                    threshold=args.threshold, n_samples=args.samples, preset=args.preset,
                    transfer=args.transfer)
    _print_rows(rows, args.out)
    return 0


def _print_rows(rows, out) -> None:
    """The summary rows of an evaluation (process 0 alone prints in a multi-process job)."""
    from neuralpde.sharding import is_writer

    if not is_writer():
        return
    for row in rows:
        diverged = f", {row['diverged_samples']} diverged" if row["diverged_samples"] else ""
        where = "" if row["compared_on"] == "model grid" else f" [{row['compared_on']}]"
        latency = row["latency_s_per_time_unit"]
        cost = ("no latency" if latency is None else
                f"latency {latency:.3g} s/time unit on {row['device'] or 'an unnamed device'}")
        skipped = (f"; skipped (need the velocity): {', '.join(row['skipped_metrics'])}"
                   if row.get("skipped_metrics") else "")
        print(f"{row['solver']:>16}: duration {row['duration_of_mean']:.3f} "
              f"(per sample {row['duration_mean']:.3f} ± {row['duration_std']:.3f}), "
              f"{cost}{diverged}{where}{skipped}")
    print(f"results: {out}")


def _add_compare(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="gather evaluated solvers into one table and four figures",
        description="Read RESULTS/*/summary.json and write RESULTS/comparison.{md,csv} and "
                    "RESULTS/figures/{correlation,snapshots,spectra,pareto}.png; print the table.",
        formatter_class=_HelpFormatter)
    p.add_argument("--results", required=True,
                   help="results folder written by `neuralpde evaluate`")
    p.add_argument("--times", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0],
                   help="times of the vorticity snapshots")
    p.add_argument("--out", help="where to write the table and figures (default: RESULTS)")
    p.set_defaults(handler=_run_compare)


def _run_compare(args) -> int:
    import math

    from neuralpde.evaluation.compare import compare

    bad = [t for t in args.times if not (math.isfinite(t) and t >= 0)]
    if bad:
        raise ConfigError(f"invalid --times {bad}: accepted finite times >= 0 (time units from "
                          "the initial frame)")
    try:
        result = compare(args.results, snapshot_times=tuple(args.times), out_dir=args.out)
    except (FileNotFoundError, ValueError) as error:
        raise ConfigError(str(error)) from error
    print(result["markdown"])
    print(f"table: {result['markdown_path']}")
    for path in result["figures"].values():
        print(f"figure: {path}")
    return 0


def _add_train(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a learned solver on a train store",
        description="Train a learned solver (the finite-volume step with learned convective "
                    "stencils: LI from the current velocity, TSM from the history) on "
                    "DATA/train.zarr, validating on DATA/validation.zarr; checkpoints and "
                    "metrics go to OUT. Re-running the same command resumes the run.",
        formatter_class=_HelpFormatter)
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
    from neuralpde.config import with_fields
    from neuralpde.training.config import get_train_preset
    from neuralpde.training.kinds import get_kind
    from neuralpde.training.loop import train

    config = get_train_preset(args.preset, args.model)
    given = overrides(args, LOOP_OPTIONS + TRAIN_OPTIONS)
    warning = unread_options(config, given, LOOP_OPTIONS + TRAIN_OPTIONS)  # refuses bad values
    config = with_fields(config, **read_by(config, given))
    if warning:
        from neuralpde.sharding import is_writer

        if is_writer():
            print(f"neuralpde train: warning: {warning}", file=sys.stderr)
    kind = get_kind(args.model)
    if kind.history_encoder is not None:
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
    summary = train(config, args.out, data_dir=args.data, progress=not args.no_progress)
    _print_training(summary, args.out, args.data)
    return 0


def _print_training(summary: dict, out, data) -> None:
    """The end of a training run (process 0 alone prints in a multi-process job)."""
    from neuralpde.sharding import is_writer

    if not is_writer():
        return
    best = summary["best_validation_duration"]
    print(f"run: {summary['run']}  step {summary['step']}  loss {summary['loss']:.4g}  "
          f"skipped {summary['skipped']}  best validation duration "
          f"{'–' if best is None else f'{best:.3f}'}  {summary['seconds']:.0f} s")
    data_arg = shlex.quote(str(data)) if data else "<data folder>"
    print(f"evaluate with: neuralpde evaluate --data {data_arg} --solver "
          f"{shlex.quote(f'run:{out}')} --out results/")
    print(f"training curves: tensorboard --logdir {Path(out) / 'tensorboard'}  (pip install "
          "tensorboard; or read the metrics.jsonl beside it)")


def _add_stagger_train(subparsers) -> None:
    p = subparsers.add_parser(
        "stagger-train", help="train staggered coarse sub-solvers (NeuralStagger-style)",
        description="Train s^2 x s_T coarse sub-solvers whose interleaved outputs form the fine "
                    "solution, with the physics-constrained loss (discrete Navier-Stokes residual, "
                    "no simulation data) on a state pool, or supervised from DATA/train.zarr; "
                    "with --data, validation on DATA/validation.zarr picks the best checkpoint. "
                    "Checkpoints and metrics.jsonl go to OUT; re-running the same command resumes. "
                    "The training budget starts from the stagger 'mini' training preset.",
        formatter_class=_HelpFormatter)
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


def _add_stagger_evaluate(subparsers) -> None:
    p = subparsers.add_parser(
        "stagger-evaluate",
        help="evaluate staggered runs (the same as `evaluate --solver run:...`)",
        description="Roll each staggered run's fine simulation out from DATA/test.zarr into "
                    "OUT/<run name>/, and with --coarse also the one-sub-solver coarse simulation "
                    "on (N/s)^2 against the same sub-field of the reference "
                    "(OUT/<run name>-sub<a><b>-<N/s>/). The same as `neuralpde evaluate --solver "
                    "run:RUN [--solver run:RUN#coarse]`; `neuralpde compare` tables both.",
        formatter_class=_HelpFormatter)
    p.add_argument("--run", action="append", required=True, help="stagger run folder (repeatable)")
    p.add_argument("--data", required=True, help="data folder holding test.zarr")
    p.add_argument("--out", required=True, help="results folder")
    _add_scoring_options(p)
    p.add_argument("--coarse", action="store_true", help="also score the one-sub-solver simulation")
    p.set_defaults(handler=_run_stagger_evaluate)


def _run_stagger_evaluate(args) -> int:
    from neuralpde.registry import evaluate
    from neuralpde.training.kinds import kind_of
    from neuralpde.training.runs import read_record, run_config

    names = []
    for run in args.run:
        config = run_config(read_record(run))
        if kind_of(config).command != "stagger-train":
            raise ConfigError(f"{run} is a {config.kind} run, not a staggered one: evaluate it "
                              "with `neuralpde evaluate --solver run:...`")
        names.append(f"run:{run}")
        if args.coarse and config.model.s > 1:
            names.append(f"run:{run}#coarse")
    rows = evaluate(names, args.data, args.out, horizon=args.horizon, n_samples=args.samples)
    _print_rows(rows, args.out)
    return 0


def _add_quickstart(subparsers) -> None:
    p = subparsers.add_parser(
        "quickstart", help="the whole study in minutes on a CPU (a demonstration)",
        description="Generate a small data set (32² from a 128² DNS), evaluate DNS and WENO "
                    "baselines, train small LI and TSM-HiPPO models, evaluate them and the "
                    "pretrained LI, TSM-HiPPO and TSM-CNN weights shipped with the package "
                    "(trained on the mini data), and write OUT/results/{comparison.md,figures/}; "
                    "prints the table. Re-running reuses what exists. Its own training budgets "
                    "are a demonstration, not converged results.",
        formatter_class=_HelpFormatter)
    p.add_argument("--out", default="quickstart", help="output folder")
    p.add_argument("--steps", type=int, help="training updates per model (default: the "
                                             "quickstart training preset, 120)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(handler=_run_quickstart)


def _run_quickstart(args) -> int:
    from neuralpde.config import with_fields
    from neuralpde.quickstart import run_quickstart
    from neuralpde.training.config import get_train_preset

    config = with_fields(get_train_preset("quickstart"), steps=args.steps)
    result = run_quickstart(args.out, train_config=config, progress=not args.no_progress)
    print()
    print(result["markdown"])
    print(result["banner"])
    print(f"report: {result['markdown_path']}")
    for path in result["figures"].values():
        print(f"figure: {path}")
    print("stage wall-clock (s): "
          + ", ".join(f"{k} {v:.0f}" for k, v in result["timings"].items()))
    return 0


def _add_import(subparsers) -> None:
    p = subparsers.add_parser(
        "import", help="import a jax-cfd-layout reference set as a test store",
        description="Write a data set in jax-cfd's xarray layout (u, v over sample, time, x, y on "
                    "the staggered grid; e.g. the published Kolmogorov Re=1000 evaluation sets) "
                    "as OUT/test.zarr, for `neuralpde evaluate --data OUT`. The file does not "
                    "state the whole flow: it is taken from --preset and checked against the "
                    "file's grid, domain and frame spacing (docs/store.md).",
        formatter_class=_HelpFormatter)
    p.add_argument("source", help="zarr folder or netCDF file in jax-cfd's layout")
    p.add_argument("--out", required=True, help="data folder; the store goes to OUT/test.zarr")
    p.add_argument("--preset", default="paper",
                   help="preset whose flow the data follow (paper: the published Re=1000 flow)")
    p.set_defaults(handler=_run_import)


def _run_import(args) -> int:
    from neuralpde.store.importing import import_jax_cfd
    from neuralpde.store.presets import get_preset

    get_preset(args.preset)  # an unknown preset is refused before anything is read
    path = import_jax_cfd(args.source, Path(args.out) / "test.zarr", preset=args.preset)
    print(f"test: {path}  (evaluate with: neuralpde evaluate --data {args.out} --solver dns "
          "--out results/)")
    return 0


def _add_pretrained(subparsers) -> None:
    p = subparsers.add_parser(
        "pretrained", help="list the shipped pretrained weights with their model cards",
        description="Print the model card of every weights file shipped with the package "
                    "(neuralpde/weights/; evaluate one as --solver pretrained:<name>), or of "
                    "NAME: the kind, training data, recipe, seed, checkpoint, machine, package "
                    "version and commit, and the time the updates took. A file written before "
                    "model cards existed gets the card its run record gives (docs/training.md, "
                    "\"Pretrained weights\").",
        formatter_class=_HelpFormatter)
    p.add_argument("name", nargs="?",
                   help="a shipped name or the path of a .npz weights file (default: every "
                        "shipped one)")
    p.add_argument("--json", action="store_true",
                   help="print the cards as one JSON object, by name: file, card_in_file, card")
    p.set_defaults(handler=_run_pretrained)


def _run_pretrained(args) -> int:
    import json

    from neuralpde.training.pretrained import (
        WEIGHTS_DIR,
        available,
        describe_card,
        weights_card,
        weights_path,
    )

    names = [args.name] if args.name is not None else available()
    found = {}
    for name in names:  # every file is read (and a bad one refused) before anything is printed
        path = weights_path(name)
        card, stored = weights_card(path)
        found[name] = (path, card, stored)
    if args.json:
        print(json.dumps({name: {"file": str(path), "card_in_file": stored, "card": card}
                          for name, (path, card, stored) in found.items()}, indent=2))
        return 0
    if not found:
        print(f"no weights are shipped in {WEIGHTS_DIR}")
    blocks = [describe_card(("" if name == str(path) else f"{name}: ")  # a path: once
                            + f"{path} ({path.stat().st_size / 1024:.0f} KiB)", card, stored)
              for name, (path, card, stored) in found.items()]
    print("\n\n".join(blocks))
    return 0


def _add_plan(subparsers) -> None:
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
        formatter_class=_HelpFormatter)
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
    import jax

    from neuralpde.config import with_fields
    from neuralpde.planning import (
        DEVICE_CLASSES,
        format_bytes,
        generation_costs,
        plan_table,
        training_cost,
    )
    from neuralpde.store.presets import get_preset
    from neuralpde.training.config import get_train_preset

    preset = get_preset(args.preset)
    if args.no_generation and args.no_training:
        raise ConfigError("--no-generation and --no-training leave nothing to plan: give at most "
                          "one of them")
    if args.devices < 1:
        raise ConfigError(f"invalid --devices {args.devices}: accepted an integer >= 1")
    train_name = args.train_preset or ("paper" if args.preset.startswith("paper") else args.preset)
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
    if sizes:
        print("\nstores (uncompressed float32): " + ", ".join(
            f"{split} {format_bytes(size)}" for split, size in sizes.items()))
    print("\ntimes: roofline lower bounds for the whole job per device (generation: fine steps "
          "of every batch; training: every update), at " + "; ".join(
              f"{DEVICE_CLASSES[d].name}: {DEVICE_CLASSES[d].fp32_flops / 1e12:g} (FP32) / "
              f"{DEVICE_CLASSES[d].tensor_flops / 1e12:g} (tensor) TFLOP/s, "
              f"{DEVICE_CLASSES[d].bandwidth / 1e12:g} TB/s, "
              f"{format_bytes(DEVICE_CLASSES[d].memory)}" for d in args.device_class))
    return 0


COMMANDS = [_add_quickstart, _add_generate, _add_export, _add_evaluate, _add_compare, _add_train,
            _add_stagger_train, _add_stagger_evaluate, _add_import, _add_plan, _add_pretrained]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block) and exit 2."""

    commands: dict = {}

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but a leftover argument is reported by the command that got it
        (``neuralpde stagger-train: error: unrecognized arguments: 1``), not by the top level;
        a command's option given before the command is named as such."""
        tokens = sys.argv[1:] if args is None else list(args)
        if self.commands and tokens and tokens[0].startswith("-") and \
                tokens[0].split("=")[0] not in ("-h", "--help", "--version", "--"):
            self.error(f"{tokens[0]} is not an option of neuralpde itself: a command's options "
                       f"go after the command (neuralpde <command> {tokens[0]} ...)")
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            owner = self.commands.get(getattr(parsed, "command", None), self)
            owner.error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed


class _VersionAction(argparse.Action):
    """``--version``: print :func:`neuralpde.version_line` (the version, and the git commit
    from a checkout) and exit; git is asked only when the option is given."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show the package version (and its git commit, run from a checkout) "
                      "and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from neuralpde import version_line

        try:
            print(version_line(), flush=True)  # on stdout, as argparse's own version action
        except OSError as error:  # a full disk or no permission: one line, as every command
            if error.errno not in DISK_ERRORS:
                raise  # a closed pipe (`| head`) included: entry() ends quietly
            with contextlib.suppress(OSError, ValueError, AttributeError):
                # the interpreter's final flush of what failed goes nowhere (no traceback)
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            _reported(f"neuralpde: error: cannot write the output: {DISK_ERRORS[error.errno]}; "
                      "free space there or write somewhere writable and re-run")
            parser.exit(2)
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="neuralpde", description="Neural PDE solvers for 2-D Navier-Stokes turbulence.")
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(subparsers)
    parser.commands = dict(subparsers.choices)
    return parser


def check_output_folder(out, is_file: bool = False) -> None:
    """Refuse (:class:`UserInputError`) an output path that cannot be created.

    Every command's ``--out`` is a folder (``export``'s is a file): refused
    when it, or a folder above it, is an existing file (or, for a file
    output, when it is an existing folder), or when a name in it is longer
    than the file system allows (:func:`name_too_long`), or when it lies in
    a folder the package removes or rewrites as a whole (a zarr store, a
    generation's resume folder, a run's checkpoints:
    :func:`neuralpde.outputs.managed_folder`).  Checked before any work
    starts, so nothing is created.
    """
    from neuralpde.outputs import managed_folder

    if not str(out).strip():
        raise UserInputError(f"--out {out!r} is empty: pass a {'file' if is_file else 'folder'} "
                             "path")
    path = Path(out)
    too_long = name_too_long(path)
    if too_long:
        raise UserInputError(f"--out {abbreviated(out)}: {too_long}; pass a shorter path")
    if is_file and path.is_dir():
        raise UserInputError(f"{out} is an existing folder: pass the path of a file to write")
    inside = managed_folder(path)
    if inside:
        raise UserInputError(f"--out {out} lies inside {inside}: what is written there would be "
                             "lost with it: outputs go to a folder of their own")
    for candidate in ((path,) if not is_file else ()) + tuple(path.parents):
        if candidate.exists() and not candidate.is_dir():
            raise UserInputError(f"--out {out}: {candidate} is an existing file, not a folder; "
                                 "pass a folder path (it is created if missing)")


def _limit(path: Path, name: str, default: int) -> int:
    """``os.pathconf`` ``name`` of the nearest existing folder above ``path`` (else ``default``)."""
    for folder in (path, *path.parents):
        try:
            if folder.is_dir():
                return int(os.pathconf(folder, name))
        except (OSError, ValueError):
            continue
    return default


def name_too_long(path) -> str:
    """Why ``path`` cannot exist on its file system (a name longer than ``PC_NAME_MAX``
    bytes, or the whole path longer than ``PC_PATH_MAX``), or ``''``."""
    path = Path(os.path.abspath(path))
    name_max = _limit(path.parent, "PC_NAME_MAX", 255)
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > name_max:
            return (f"the name {abbreviated(part)} is {size} bytes, longer than the {name_max} "
                    "the file system allows")
    path_max = _limit(path.parent, "PC_PATH_MAX", 4096)
    size = len(os.fsencode(str(path)))
    if size >= path_max:
        return f"the path is {size} bytes, longer than the {path_max - 1} the file system allows"
    return ""


def abbreviated(text, keep: int = 40) -> str:
    """``text`` (a path or name) with every name longer than ``keep`` characters shortened to
    its first and last characters and its length, to fit one line."""
    def short(part: str) -> str:
        if len(part) <= keep:
            return part
        return f"{part[:12]}...{part[-12:]} ({len(part)} characters)"
    return os.sep.join(short(part) for part in str(text).split(os.sep))


def _new_folders(args) -> list:
    """The folders of ``args.out`` (and above it) that do not exist yet, deepest first: what a
    failed command may remove again if it left them empty (best effort; never an existing
    folder)."""
    out = getattr(args, "out", None)
    if out is None or not str(out).strip():
        return []
    path = Path(os.path.abspath(out))
    missing = []
    for folder in (path, *path.parents):
        try:
            if folder.exists():
                break
        except OSError:  # a name too long to look up cannot have been made either
            continue
        missing.append(folder)
    return missing


def _remove_empty(folders) -> None:
    """Remove each of ``folders`` (deepest first) that exists and is empty now."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # missing, not empty, or not ours to remove
            pass


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


#: Errors of the file system that are the user's to fix (read-only, full, no permission).
DISK_ERRORS = {errno.EROFS: "the file system is read-only", errno.ENOSPC: "the disk is full",
               errno.EDQUOT: "the disk quota is exceeded", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied"}


#: Commands that never start a JAX backend (no ``JAX_PLATFORMS`` check before them).
NO_JAX_COMMANDS = ("compare", "export", "pretrained")


def _kept(args) -> str:
    """What a hard stop of ``args.command`` leaves, and how to go on (best effort)."""
    out = getattr(args, "out", None)
    command = args.command
    if command in ("train", "stagger-train"):
        last = Path(out) / "checkpoints" / "last"
        steps = [int(p.name) for p in last.iterdir() if p.name.isdigit()] if last.is_dir() else []
        if steps:
            return (f"the checkpoint of step {max(steps)} in {last} is kept: re-run the same "
                    "command to resume from it")
        return "no checkpoint was finished yet: re-run the same command to start again"
    if command == "generate":
        return (f"every finished block of the stores in {out} is kept: re-run the same command "
                "to resume")
    if command in ("evaluate", "stagger-evaluate"):
        return (f"the results of the solvers finished before the stop are complete in {out} (an "
                "unfinished one left no results): re-run the same command to score the rest")
    if command == "quickstart":
        return f"the finished stages in {out} are kept: re-run the same command to resume"
    return "nothing half-written is left: re-run the same command"


def _start_processes(command: str) -> None:
    """``NEURALPDE_DISTRIBUTED=1``: join the other processes (``jax.distributed``) first;
    the commands of :data:`neuralpde.sharding.MULTI_PROCESS_COMMANDS` divide their work
    among them, the others refuse (docs/scaling.md)."""
    from neuralpde.sharding import (
        MULTI_PROCESS_COMMANDS,
        initialize_from_environment,
        require_one_process,
    )

    if initialize_from_environment(f"neuralpde {command}") and \
            command not in MULTI_PROCESS_COMMANDS:
        require_one_process(f"`neuralpde {command}`")


#: A negative number argparse would otherwise read as an option (``-1e-3``, ``-2.``).
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|nan)$", re.IGNORECASE)


def joined_negative_values(argv) -> list:
    """``['--viscosity', '-1e-3']`` -> ``['--viscosity=-1e-3']``.

    argparse takes a token that starts with ``-`` and is not a plain decimal
    (``-1e-3``, ``-inf``) for an option, so ``--viscosity -1e-3`` would fail
    with "expected one argument" instead of the value's own error; joining it
    to the long option before it lets the option's check name the bad value.
    """
    joined = []
    for token in argv:
        if (joined and joined[-1].startswith("--") and "=" not in joined[-1]
                and _NEGATIVE_NUMBER.match(token)):
            joined[-1] = f"{joined[-1]}={token}"
        else:
            joined.append(token)
    return joined


#: Config fields a command's options set, when the field is not the option's name.
_FIELD_ALIASES = {"generate": {"n_samples": "--samples"}}
_FIELD_VALUE = re.compile(r"^invalid (\w+)=(\([^)]*\)|[-+\w.]+)(?=[:\s]|$)")


def with_option_name(message: str, command: str) -> str:
    """``invalid peak_lr=-1.0: ...`` -> ``invalid peak_lr=-1.0 (--lr): ...``.

    Config checks name the config field; on the command line the user typed
    the option, so the option of ``command`` that sets the field is added
    after the bad value (messages about other fields are left as they are).
    """
    tables = {"train": LOOP_OPTIONS + TRAIN_OPTIONS,
              "stagger-train": LOOP_OPTIONS + STAGGER_OPTIONS,
              "generate": GENERATE_OPTIONS}.get(command, ())
    flags = {field: names[0] for names, field, _ in tables}
    flags.update(_FIELD_ALIASES.get(command, {}))
    match = _FIELD_VALUE.match(message)
    if not match or match.group(1) not in flags:
        return message
    return f"{message[:match.end()]} ({flags[match.group(1)]}){message[match.end():]}"


def main(argv=None) -> int:
    """Run one ``neuralpde`` command; returns the exit status.

    0: done; 2: a user error (bad option, file or folder; another process
    writing the same output; a read-only or full disk; sizes beyond the
    device's memory), printed as one line;
    128 + signal number: stopped by SIGINT/SIGTERM (:mod:`neuralpde.interrupts`),
    with one line saying what was saved and how to resume.
    """
    from neuralpde.interrupts import Interrupted, handling_interrupts

    argv = joined_negative_values(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    prefix = f"neuralpde {args.command}"
    try:
        if args.command not in NO_JAX_COMMANDS:
            check_xla_flags()  # before anything starts a backend (jax.distributed included)
        _start_processes(args.command)
        if args.command not in NO_JAX_COMMANDS:
            check_jax_platforms()
    except UserInputError as error:
        _reported(f"{prefix}: error: {error}")
        return 2
    new_folders = _new_folders(args)
    # orbax logs its background threads' failures through absl and asyncio before the
    # error reaches the command, which reports it in one line (below)
    for name in ("absl", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        with handling_interrupts(prefix, describe=lambda: _kept(args)), _closed_loop_quiet(), \
                _one_line_warnings(prefix):
            if getattr(args, "out", None) is not None:
                check_output_folder(args.out, is_file=args.command == "export")
            return args.handler(args)
    except UserInputError as error:
        _reported(f"{prefix}: error: {with_option_name(str(error), args.command)}")
        return 2
    except Interrupted as stop:
        _reported(f"{prefix}: {stop}")
        return 128 + int(stop.signum)
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:  # a name given (or made from one) too long
            _remove_empty(new_folders)
            where = abbreviated(error.filename or getattr(args, "out", None) or "a path")
            _reported(f"{prefix}: error: {where}: a name in this path is longer than the file "
                      "system allows (File name too long); pass a shorter path")
            return 2
        if error.errno not in DISK_ERRORS:
            raise
        where = error.filename or getattr(args, "out", None) or "the output"
        full = error.errno in (errno.ENOSPC, errno.EDQUOT)
        fix = "free space there or write to another disk" if full else "write somewhere writable"
        _reported(f"{prefix}: error: cannot write {where}: {DISK_ERRORS[error.errno]}; {fix} "
                  "and re-run (finished work is kept and resumed; nothing half-written is read)")
        return 2
    except Exception as error:  # out of device or host memory: the user's sizes, not a bug
        if not isinstance(error, MemoryError) and (
                type(error).__name__ not in ("JaxRuntimeError", "XlaRuntimeError")
                or not ("RESOURCE_EXHAUSTED" in str(error)
                        or "Out of memory allocating" in str(error))):
            raise
        _reported(f"{prefix}: error: out of memory: {str(error).splitlines()[0][:160]}; reduce "
                  "the batch size, the number of samples or the grid sizes")
        return 2


def _without_closed_loop_noise(previous):
    """An unraisable-exception hook that drops one kind of library noise, else ``previous``.

    After a failed checkpoint write or restore, TensorStore's C++ threads
    complete futures into orbax event loops that are already closed and report
    each ``RuntimeError('Event loop is closed')`` as an unraisable exception;
    the command has reported the failure itself.
    """
    def hook(unraisable):
        if not (isinstance(unraisable.exc_value, RuntimeError)
                and str(unraisable.exc_value) == "Event loop is closed"):
            previous(unraisable)
    return hook


@contextlib.contextmanager
def _closed_loop_quiet():
    """:func:`_without_closed_loop_noise` while a command runs (restored after)."""
    previous = sys.unraisablehook
    sys.unraisablehook = _without_closed_loop_noise(previous)
    try:
        yield
    finally:
        sys.unraisablehook = previous


@contextlib.contextmanager
def _one_line_warnings(prefix: str):
    """While a command runs, a warning prints as ``neuralpde <command>: warning: <message>``
    (one line, no source line); restored after."""
    import warnings

    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"{prefix}: warning: {text}", file=sys.stderr if file is None else file)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def _reported(message: str) -> None:
    """Print the one line of a failed command (standard error), control characters of the
    values it names escaped."""
    print(printable(message), file=sys.stderr)


def entry() -> None:
    """The ``neuralpde`` console script: :func:`main`, and a failed command exits at once.

    After a failure has been reported in one line, background threads of
    orbax/TensorStore may still be finishing a failed write and would print
    tracebacks while the interpreter shuts down; a failed command therefore
    leaves through ``os._exit`` (its own files are closed; what it wrote is
    safe against a kill anyway).  Success exits normally.  Output piped into a reader
    that stops early (``| head``) ends the command quietly with status 141.
    """
    sys.unraisablehook = _without_closed_loop_noise(sys.unraisablehook)  # also after main()
    try:
        code = main()
    except BrokenPipeError:  # `neuralpde ... | head`: the reader left; no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush goes nowhere
        code = 141  # as a shell reports a process ended by SIGPIPE (128 + 13)
    if code:
        sys.stdout.flush()
        sys.stderr.flush()
        from neuralpde.sharding import shutdown

        shutdown()  # a multi-process job: leave it cleanly, or JAX aborts the others
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
