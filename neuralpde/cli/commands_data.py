"""The data commands: ``neuralpde generate``, ``neuralpde export`` and ``neuralpde import``."""

from __future__ import annotations

import argparse
from pathlib import Path

from neuralpde.cli.options import (
    FLOW_OPTIONS,
    GENERATE_OPTIONS,
    HelpFormatter,
    generate_preset_values,
)


def add_generate(subparsers) -> None:
    """Add ``neuralpde generate`` to ``subparsers``."""
    p = subparsers.add_parser(
        "generate", help="generate DNS train/test trajectory stores",
        description="Integrate Kolmogorov (or decaying) turbulence on the fine grid, "
                    "downsample to the model grid and write <out>/{train,validation,test}.zarr. "
                    "Interrupted runs resume; finished stores are left alone.",
        formatter_class=HelpFormatter)
    p.add_argument("--preset", default="mini",
                   help="quickstart or mini (2-core CPU), paper-lite or paper (GPU)")
    p.add_argument("--out", required=True, help="output folder; stores go to OUT/<split>.zarr")
    p.add_argument("--split", choices=("train", "validation", "test", "all"), default="all",
                   help="which split to generate (training fits on train, selects checkpoints on "
                        "validation; only evaluation reads test)")
    for flags, dest, kwargs in GENERATE_OPTIONS:
        kwargs = dict(kwargs, default=argparse.SUPPRESS)
        kwargs["help"] += f" (preset: {generate_preset_values(dest)})"
        p.add_argument(*flags, dest=dest, **kwargs)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(handler=_run_generate)


def _run_generate(args) -> int:
    """Generate the stores (``neuralpde generate``); returns 0."""
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


def add_export(subparsers) -> None:
    """Add ``neuralpde export`` to ``subparsers``."""
    p = subparsers.add_parser("export", help="export a trajectory store to netCDF",
                              description="Write a complete store to one netCDF file.")
    p.add_argument("store", help="path of a .zarr trajectory store")
    p.add_argument("out", help="netCDF file to write")
    p.set_defaults(handler=_run_export)


def _run_export(args) -> int:
    """Export a store to netCDF (``neuralpde export``); returns 0."""
    from neuralpde.store.export import export_netcdf

    print(export_netcdf(args.store, args.out))
    return 0


def add_import(subparsers) -> None:
    """Add ``neuralpde import`` to ``subparsers``."""
    p = subparsers.add_parser(
        "import", help="import a jax-cfd-layout reference set as a test store",
        description="Write a data set in jax-cfd's xarray layout (u, v over sample, time, x, y on "
                    "the staggered grid; e.g. the published Kolmogorov Re=1000 evaluation sets) "
                    "as OUT/test.zarr, for `neuralpde evaluate --data OUT`. The file does not "
                    "state the whole flow: it is taken from --preset and checked against the "
                    "file's grid, domain and frame spacing (docs/store.md).",
        formatter_class=HelpFormatter)
    p.add_argument("source", help="zarr folder or netCDF file in jax-cfd's layout")
    p.add_argument("--out", required=True, help="data folder; the store goes to OUT/test.zarr")
    p.add_argument("--preset", default="paper",
                   help="preset whose flow the data follow (paper: the published Re=1000 flow)")
    p.set_defaults(handler=_run_import)


def _run_import(args) -> int:
    """Import a jax-cfd-layout data set as a test store (``neuralpde import``); returns 0."""
    from neuralpde.store.importing import import_jax_cfd
    from neuralpde.store.presets import get_preset

    get_preset(args.preset)  # an unknown preset is refused before anything is read
    path = import_jax_cfd(args.source, Path(args.out) / "test.zarr", preset=args.preset)
    print(f"test: {path}  (evaluate with: neuralpde evaluate --data {args.out} --solver dns "
          "--out results/)")
    return 0

