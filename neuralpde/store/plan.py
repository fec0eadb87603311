"""The plan of one split's generation: step counts, the generation key, the store attrs.

:func:`plan_split` turns a preset and a split into step counts
(:class:`SplitPlan`); :func:`generation_key` is everything that determines
the data (stores resume or are refused on it); :func:`store_attrs` is the
attribute set every store records (:mod:`neuralpde.store.schema`).
"""

from __future__ import annotations

import dataclasses
import json

import jax

from neuralpde import provenance
from neuralpde.config import ConfigError, to_dict
from neuralpde.physics import dns
from neuralpde.physics.flows import flow_name
from neuralpde.store.presets import SPLIT_STREAMS, Preset

#: How sample keys derive from (seed, split, sample): recorded in the generation key.
SEED_STREAMS = "fold_in(fold_in(PRNGKey(seed), SPLIT_STREAMS[split]), sample)"

SOLVER_DESCRIPTION = ("jax-cfd 0.2.1 finite volume on a staggered grid: van Leer advection, "
                      "forward Euler, fast-diagonalisation pressure projection")
SPECTRAL_DESCRIPTION = ("jax-cfd 0.2.1 pseudo-spectral vorticity equation: 2/3-rule dealiasing, "
                        "Crank-Nicolson RK4")


@dataclasses.dataclass(frozen=True)
class SplitPlan:
    """The step counts of one split, derived from a preset."""

    dt_model: float
    inner_steps: int
    warmup_steps: int  # model steps
    n_frames: int
    save_every: int
    history: int = 0
    coarse_steps: int = 0  # model steps of the warm-up on the coarse warm-up grid
    warmup_inner_steps: int = 0

    @property
    def frame_dt(self) -> float:
        return self.save_every * self.dt_model

    @property
    def model_steps(self) -> int:
        """Model steps integrated per sample (warm-up + trajectory)."""
        return self.warmup_steps + (self.n_frames - 1) * self.save_every


def plan_split(preset: Preset, split: str) -> SplitPlan:
    spec = preset.split(split)
    dt = preset.dt_model
    for name, value in (("duration", spec.duration), ("warmup", spec.warmup)):
        if value / dt > 1e9:
            raise ConfigError(f"invalid {name}={value:g} for the {split} split: accepted at most "
                              f"{1e9 * dt:.3g} time units (1e9 model steps of {dt:.4g})")
    warmup_steps = round(spec.warmup / dt)
    if spec.history > warmup_steps + 1:
        raise ConfigError(f"invalid history={spec.history} for the {split} split: accepted at most "
                          f"warm-up steps + 1 = {warmup_steps + 1} (warmup={spec.warmup:g}, "
                          f"dt={dt:.6g})")
    coarse_steps = 0
    if preset.warmup_size:
        # the reference integrates the last refine_time of the warm-up (all of a shorter one)
        refine_steps = min(round(preset.refine_time / dt), warmup_steps)
        if spec.history > refine_steps + 1:
            raise ConfigError(
                f"invalid refine_time={preset.refine_time:g} for the {split} split: accepted at "
                f"least the history window, (history - 1) x dt = {(spec.history - 1) * dt:.4g} "
                "time units (the history is recorded on the reference grid)")
        coarse_steps = warmup_steps - refine_steps
    return SplitPlan(
        dt_model=dt,
        inner_steps=preset.inner_steps,
        warmup_steps=warmup_steps,
        n_frames=round(spec.duration / (spec.save_every * dt)) + 1,
        save_every=spec.save_every,
        history=spec.history,
        coarse_steps=coarse_steps,
        warmup_inner_steps=preset.warmup_inner_steps,
    )


def generation_key(preset: Preset, split: str) -> dict:
    """Everything that determines the data (and chunking) of one split's store."""
    split_fields = to_dict(preset.split(split))
    if not split_fields.get("history"):  # stores made before history existed stay valid
        split_fields.pop("history", None)
    # fields added later enter the key only when set, so earlier stores stay valid
    added = {}
    if preset.reference_solver != "fv":
        added["reference_solver"] = preset.reference_solver
    if preset.warmup_size:
        added.update(warmup_size=preset.warmup_size, refine_time=preset.refine_time)
    return {
        **added,
        "flow": to_dict(preset.flow),
        "model_size": preset.model_size,
        "fine_size": preset.fine_size,
        "inner_steps": preset.inner_steps,
        "split": split_fields,
        "seed_streams": SEED_STREAMS,
        "initial_sizes": list(preset.initial_sizes) if split == "test" else [],
        "batch_size": preset.batch_size,
        "time_chunk": preset.time_chunk,
    }


def store_attrs(preset: Preset, split: str, plan: SplitPlan) -> dict:
    spec = preset.split(split)
    return {
        "preset": preset.name,
        "split": split,
        "config_json": json.dumps({"preset": json.loads(preset.to_json()), "split": split},
                                  sort_keys=True),
        "generation_key": json.dumps(generation_key(preset, split), sort_keys=True),
        "flow": flow_name(preset.flow),
        "viscosity": preset.flow.viscosity,
        "domain_size": preset.flow.domain_size,
        "model_size": preset.model_size,
        "fine_size": preset.fine_size,
        "inner_steps": plan.inner_steps,
        "dt_model": plan.dt_model,
        "save_every": plan.save_every,
        "frame_dt": plan.frame_dt,
        "warmup": spec.warmup,
        "seed": spec.seed,
        "n_samples": spec.n_samples,
        "history_frames": spec.history,
        "seed_stream": SPLIT_STREAMS[split],
        "stationary_energy": preset.stationary[0] if preset.stationary else None,
        "stationary_enstrophy": preset.stationary[1] if preset.stationary else None,
        "failed": "",
        "solver": SPECTRAL_DESCRIPTION if preset.reference_solver == "spectral"
        else SOLVER_DESCRIPTION,
        "reference_solver": preset.reference_solver,
        "warmup_size": preset.warmup_size or preset.fine_size,
        "refine_time": preset.refine_time,
        **provenance(),  # neuralpde_version, neuralpde_git_commit
        "jax_version": jax.__version__,
        "jax_cfd_version": dns.JAX_CFD_VERSION,
    }


__all__ = ["SEED_STREAMS", "SOLVER_DESCRIPTION", "SPECTRAL_DESCRIPTION", "SplitPlan",
           "plan_split", "generation_key", "store_attrs"]
