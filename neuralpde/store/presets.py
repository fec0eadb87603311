"""Data-generation presets: ``quickstart``, ``mini`` (2-core CPU), ``paper-lite``, ``paper`` (GPU).

==========  =====  =================  ===========  ================  ==========  =========
preset      model  reference          train split  validation split  test split  warm-up
==========  =====  =================  ===========  ================  ==========  =========
quickstart  32²    FV 128²            2 × 6        2 × 2             4 × 6       30 / 30.9
mini        32²    spectral 256² (*)  8 × 16       4 × 8             32 × 12     40 / 40.9
paper-lite  64²    FV 1024²           16 × 20      8 × 10            16 × 20     40 / 40.9
paper       64²    FV 2048²           128 × 80     8 × 10            16 × 20     40 / 40.9
==========  =====  =================  ===========  ================  ==========  =========

Splits: trajectories × time units.

(*) pseudo-spectral (``reference_solver='spectral'``), warmed up on the FV 128²
grid up to 1 time unit before t = 0 (``warmup_size``, ``refine_time``): the
choice ``experiments/reference_convergence.py`` supports
(``experiments/results/mini/reference_convergence.txt``).  The GPU presets keep
the published protocol's finite-volume reference.

Warm-up: time integrated and discarded before the first frame (train and
validation / test), so that every frame is a sample of the statistically
stationary flow.  It is a measured quantity: ``experiments/spinup.py`` prints
the kinetic energy and enstrophy of the reference DNS against time and the
time after which their running means stay within 10 % of the stationary mean
(``experiments/results/spinup_*.txt``); the CPU presets' warm-ups are set at
or above it, the GPU presets keep the published 40 / 40.9 time units.
``Preset.stationary`` holds the measured stationary (energy, enstrophy) of the
preset's flow on its reference grid; ``neuralpde generate`` prints the stored
end-of-warm-up values beside it.

Splits and seeds: sample ``i`` of split ``s`` draws its initial condition from
``fold_in(fold_in(PRNGKey(seed), SPLIT_STREAMS[s]), i)`` (:func:`initial_key`),
so train, validation and test never share an initial condition, whatever seeds
are passed (a train seed equal to another split's seed included); seeds are
integers in ``[0, 2**31 - 1]``.  Training fits on ``train`` and selects
checkpoints on ``validation``; only evaluation reads ``test``.

Train frames are saved every model step (training unrolls the solver on
them); validation and test frames every ``FRAME_SPACING`` = 0.0561 time units
(8 model steps of the 64² grid, 4 of the 32² grid), the evaluation spacing of
the protocol.  Validation and test stores keep the last ``history`` = 32
model steps before t = 0 on the model grid (the prefix that a temporal stencil
model encodes before its rollout; ``TSM_PREFIX``); the test store also keeps
the first frame on the extra grids of ``initial_sizes`` (the coarse DNS
baselines start there).  Everything else follows the published protocol
(Kochkov et al., PNAS 2021; Sun, Yang & Yoo, ICML 2023).
"""

from __future__ import annotations

import dataclasses
import json
import math

import jax

from neuralpde.config import (
    ConfigError,
    fields_from_dict,
    require,
    require_positive,
    require_positive_int,
    to_dict,
)
from neuralpde.physics import dns
from neuralpde.physics.flows import FlowSpec, KolmogorovFlow, flow_from_dict, make_flow

SPLITS = ("train", "validation", "test")
#: The stream of each split: sample i of split s uses fold_in(fold_in(PRNGKey(seed), stream), i).
SPLIT_STREAMS = {"train": 1, "validation": 2, "test": 3}
MAX_SEED = 2**31 - 1
#: Most trajectories integrated at once (a batch larger than any split is never useful).
MAX_BATCH = 4096
#: Reference DNS solvers ``generate`` integrates (``Preset.reference_solver``).
REFERENCE_SOLVERS = ("fv", "spectral")


@dataclasses.dataclass(frozen=True)
class SplitSpec:
    """How one split of a data set is generated.

    Args:
      n_samples: trajectories (≥ 1).
      duration: saved time span per trajectory, in time units (> 0).
      warmup: time integrated (and discarded) before the first frame (≥ 0).
      save_every: model steps between saved frames (≥ 1).
      seed: base PRNG seed, an integer in ``[0, 2**31 - 1]``; sample ``i`` of
        split ``s`` uses ``fold_in(fold_in(PRNGKey(seed), SPLIT_STREAMS[s]), i)``.
      history: model-grid frames kept one model step apart up to and including
        t = 0 (the end of the warm-up), as ``u_history``/``v_history``: the
        prefix a temporal model (TSM) encodes before its rollout.  0: none.
        Needs ``warmup >= (history - 1)`` model steps.
    """

    n_samples: int
    duration: float
    warmup: float
    save_every: int
    seed: int
    history: int = 0

    def __post_init__(self):
        require_positive_int("n_samples", self.n_samples)
        require_positive("duration", self.duration)
        require(isinstance(self.warmup, (int, float)) and self.warmup >= 0, "warmup",
                self.warmup, "a number >= 0")
        require_positive_int("save_every", self.save_every)
        require(isinstance(self.seed, int) and not isinstance(self.seed, bool)
                and 0 <= self.seed <= MAX_SEED, "seed", self.seed, f"an integer in [0, {MAX_SEED}]")
        require(isinstance(self.history, int) and self.history >= 0, "history", self.history,
                "an integer >= 0")


@dataclasses.dataclass(frozen=True)
class Preset:
    """A data-generation recipe: flow, grids and splits.

    Args:
      name: preset name recorded in the stores.
      flow: the flow specification.
      model_size: model (coarse) grid N.
      fine_size: reference DNS grid, an integer multiple of ``model_size``.
      train: the train split.
      test: the test split.
      validation: the validation split (None: none, as in stores written
        before it existed).
      initial_sizes: extra grids whose first test frame is stored.
      batch_size: trajectories integrated together (vmap + device sharding).
      time_chunk: frames per zarr chunk and per resumable block.
      stationary: the measured stationary (kinetic energy, enstrophy) of the
        flow on the reference grid (``experiments/spinup.py``), or None
        (unknown: another flow or grid).
      reference_solver: the reference DNS: ``'fv'`` (jax-cfd's finite volume,
        van Leer advection; the published protocol's) or ``'spectral'``
        (jax-cfd's pseudo-spectral Navier–Stokes, 2/3-rule dealiasing,
        Crank–Nicolson RK4; :mod:`neuralpde.physics.spectral`), both on the
        ``fine_size`` grid.
      warmup_size: the grid of a cheaper warm-up: the trajectories start on
        a ``warmup_size``² finite-volume grid, which integrates the warm-up up
        to ``refine_time`` before t = 0; the state is then refined to the
        reference (band-limited interpolation of the face averages, exact for
        the modes the coarse grid holds, divergence-free) and the reference
        integrates the rest.  0: the reference integrates the whole warm-up.
      refine_time: time units before t = 0 integrated by the reference after
        the refinement (covers the ``history`` window; a shorter warm-up is
        integrated by the reference throughout); used with ``warmup_size`` only.
    """

    name: str
    flow: FlowSpec
    model_size: int
    fine_size: int
    train: SplitSpec
    test: SplitSpec
    validation: SplitSpec | None = None
    initial_sizes: tuple[int, ...] = ()
    batch_size: int = 4
    time_chunk: int = 64
    stationary: tuple[float, float] | None = None
    reference_solver: str = "fv"
    warmup_size: int = 0
    refine_time: float = 0.0

    def __post_init__(self):
        require_positive_int("model_size", self.model_size)
        require(isinstance(self.model_size, int) and self.model_size >= 8, "model_size",
                self.model_size, "an integer >= 8")
        require(isinstance(self.fine_size, int) and self.fine_size >= self.model_size
                and self.fine_size % self.model_size == 0, "fine_size", self.fine_size,
                f"an integer multiple of model_size={self.model_size}")
        for m in self.initial_sizes:
            require(isinstance(m, int) and 0 < m <= self.fine_size and self.fine_size % m == 0
                    and m % self.model_size == 0, "initial_sizes", self.initial_sizes,
                    f"multiples of model_size={self.model_size} that divide "
                    f"fine_size={self.fine_size}")
        require_positive_int("batch_size", self.batch_size)
        require(self.batch_size <= MAX_BATCH, "batch_size", self.batch_size,
                f"an integer in [1, {MAX_BATCH}] (trajectories integrated at once)")
        require_positive_int("time_chunk", self.time_chunk)
        require(self.reference_solver in REFERENCE_SOLVERS, "reference_solver",
                self.reference_solver, f"one of {list(REFERENCE_SOLVERS)}")
        if self.reference_solver == "spectral":
            require(self.fine_size % 2 == 0, "fine_size", self.fine_size,
                    "an even number of cells per side for the pseudo-spectral reference")
        require(isinstance(self.warmup_size, int) and not isinstance(self.warmup_size, bool)
                and (self.warmup_size == 0 or (self.model_size <= self.warmup_size
                                                <= self.fine_size
                                                and self.warmup_size % self.model_size == 0)),
                "warmup_size", self.warmup_size,
                f"0 (no coarse warm-up) or a multiple of model_size={self.model_size} up to "
                f"fine_size={self.fine_size}")
        require(isinstance(self.refine_time, (int, float)) and not isinstance(
            self.refine_time, bool) and math.isfinite(self.refine_time) and self.refine_time >= 0,
            "refine_time", self.refine_time, "a finite number of time units >= 0")
        require(self.warmup_size or not self.refine_time, "refine_time", self.refine_time,
                "0 without a coarse warm-up grid (warmup_size=0)")
        dns.inner_steps(self.flow, self.fine_size, self.model_size)  # a stable model and fine step
        if self.warmup_size:
            dns.inner_steps(self.flow, self.warmup_size, self.model_size)

    def split(self, name: str) -> SplitSpec:
        if name not in SPLITS:
            raise ConfigError(f"unknown split {name!r}: accepted {list(SPLITS)}")
        if getattr(self, name) is None:
            raise ConfigError(f"preset {self.name!r} has no {name} split")
        return getattr(self, name)

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits this preset defines, in generation order."""
        return tuple(name for name in SPLITS if getattr(self, name) is not None)

    @property
    def dt_model(self) -> float:
        return dns.model_time_step(self.flow, self.model_size)

    @property
    def inner_steps(self) -> int:
        """Reference steps per model step.

        Finite volume: :func:`neuralpde.physics.dns.inner_steps` (the grid
        ratio, more where explicit diffusion needs it); pseudo-spectral:
        ``ceil(fine_size / model_size)`` (its linear terms are implicit:
        :func:`neuralpde.physics.spectral.spectral_time_step`).
        """
        if self.reference_solver == "spectral":
            return max(1, math.ceil(self.fine_size / self.model_size - 1e-9))
        return dns.inner_steps(self.flow, self.fine_size, self.model_size)

    @property
    def warmup_inner_steps(self) -> int:
        """Finite-volume steps per model step on the coarse warm-up grid (0: none)."""
        return dns.inner_steps(self.flow, self.warmup_size, self.model_size) \
            if self.warmup_size else 0

    def to_json(self) -> str:
        return json.dumps(to_dict(self), sort_keys=True)


def _split_from_dict(data: dict) -> SplitSpec:
    return SplitSpec(**fields_from_dict(SplitSpec, data))


def preset_from_dict(data: dict) -> Preset:
    """Inverse of ``config.to_dict`` for presets (a dict without ``validation``: None)."""
    kwargs = fields_from_dict(Preset, data)
    kwargs["flow"] = flow_from_dict(kwargs["flow"])
    for name in SPLITS:
        if kwargs.get(name) is not None:
            kwargs[name] = _split_from_dict(kwargs[name])
    if kwargs.get("stationary") is not None:
        kwargs["stationary"] = tuple(kwargs["stationary"])
    return Preset(**kwargs)


def split_key(seed: int, split: str):
    """The PRNG key of a split's stream: ``fold_in(PRNGKey(seed), SPLIT_STREAMS[split])``."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), SPLIT_STREAMS[split])


def initial_key(seed: int, split: str, sample):
    """The PRNG key of sample ``sample``'s initial condition in a split:
    ``fold_in(split_key, i)``."""
    return jax.random.fold_in(split_key(seed, split), sample)


TSM_PREFIX = 32  # frames a temporal model encodes before the rollout (published 32)
FRAME_SPACING = 0.0561  # 8 model steps of the 64² grid: the evaluation frame spacing


def _eval_save_every(flow: FlowSpec, model_size: int) -> int:
    return max(1, round(FRAME_SPACING / dns.model_time_step(flow, model_size)))


#: Warm-ups of the CPU presets (train/validation, test): at least the spin-up that
#: ``experiments/spinup.py`` measures on their reference grids (31.3 time units at 256²,
#: 25.1 at 128²; experiments/results/spinup_{mini,quickstart}.txt).  ``mini`` takes the
#: published 40 / 40.9.
WARMUP_MINI = (40.0, 40.9)
WARMUP_QUICKSTART = (30.0, 30.9)
#: Measured stationary (kinetic energy, enstrophy) of the published flow on the reference grid.
STATIONARY_256 = (0.9057, 9.055)
STATIONARY_128 = (0.9233, 9.091)


def _eval_split(flow: FlowSpec, model_size: int, n_samples: int, duration: float,
                warmup: float) -> SplitSpec:
    """A validation or test split: evaluation frame spacing, the TSM history."""
    return SplitSpec(n_samples=n_samples, duration=duration, warmup=warmup,
                     save_every=_eval_save_every(flow, model_size), seed=0, history=TSM_PREFIX)


def _mini() -> Preset:
    flow = KolmogorovFlow()
    train_warmup, test_warmup = WARMUP_MINI
    return Preset(
        name="mini", flow=flow, model_size=32, fine_size=256,
        train=SplitSpec(n_samples=8, duration=16.0, warmup=train_warmup, save_every=1, seed=0),
        validation=_eval_split(flow, 32, 4, 8.0, train_warmup),
        test=_eval_split(flow, 32, 32, 12.0, test_warmup),
        initial_sizes=(64, 128, 256), batch_size=8, time_chunk=64, stationary=None,
        reference_solver="spectral", warmup_size=128, refine_time=1.0)


def _quickstart() -> Preset:
    """The ``neuralpde quickstart`` demonstration: 32² from a 128² DNS, seconds of data."""
    flow = KolmogorovFlow()
    train_warmup, test_warmup = WARMUP_QUICKSTART
    return Preset(
        name="quickstart", flow=flow, model_size=32, fine_size=128,
        train=SplitSpec(n_samples=2, duration=6.0, warmup=train_warmup, save_every=1, seed=0),
        validation=_eval_split(flow, 32, 2, 2.0, train_warmup),
        test=_eval_split(flow, 32, 4, 6.0, test_warmup),
        initial_sizes=(64,), batch_size=2, time_chunk=64, stationary=STATIONARY_128)


def _paper_lite() -> Preset:
    flow = KolmogorovFlow()
    return Preset(
        name="paper-lite", flow=flow, model_size=64, fine_size=1024,
        train=SplitSpec(n_samples=16, duration=20.0, warmup=40.0, save_every=1, seed=0),
        validation=_eval_split(flow, 64, 8, 10.0, 40.0),
        test=_eval_split(flow, 64, 16, 20.0, 40.9),
        initial_sizes=(128, 256, 512), batch_size=8, time_chunk=128)


def _paper() -> Preset:
    flow = KolmogorovFlow()
    return Preset(
        name="paper", flow=flow, model_size=64, fine_size=2048,
        train=SplitSpec(n_samples=128, duration=80.0, warmup=40.0, save_every=1, seed=0),
        validation=_eval_split(flow, 64, 8, 10.0, 40.0),
        test=_eval_split(flow, 64, 16, 20.0, 40.9),
        initial_sizes=(128, 256, 512, 1024), batch_size=4, time_chunk=128)


PRESETS = {"quickstart": _quickstart, "mini": _mini, "paper-lite": _paper_lite, "paper": _paper}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: accepted {sorted(PRESETS)}")
    return PRESETS[name]()


def with_overrides(
    preset: Preset,
    split: str | None = None,
    flow: dict | None = None,
    flow_kind: str | None = None,
    **fields,
) -> Preset:
    """A copy of ``preset`` with preset fields, split fields and flow fields replaced.

    ``fields`` may hold preset fields (``model_size``, ``fine_size``,
    ``initial_sizes``, ``batch_size``, ``time_chunk``, ``reference_solver``,
    ``warmup_size``, ``refine_time``) and split fields
    (``n_samples``, ``duration``, ``warmup``, ``save_every``, ``seed``,
    ``history``), the latter applied to ``split`` (or every split when
    ``split`` is None).  ``None`` values are ignored.  A new flow, reference
    grid or reference solver drops the ``stationary`` reference (it was
    measured for the old one).  A new model or reference grid keeps a coarse
    warm-up grid at its ratio to the reference grid where that is still a
    multiple of the model grid (``mini`` on 8²/32²: 16²), else drops it.
    """
    for name in ("model_size", "fine_size", "batch_size", "time_chunk"):
        if fields.get(name) is not None:
            require_positive_int(name, fields[name])
    fields = {k: v for k, v in fields.items() if v is not None}
    split_names = {f.name for f in dataclasses.fields(SplitSpec)}
    split_fields = {k: v for k, v in fields.items() if k in split_names}
    preset_fields = {k: v for k, v in fields.items() if k not in split_names}
    fields_from_dict(Preset, preset_fields)  # rejects unknown names
    if flow or flow_kind:
        base = to_dict(preset.flow)
        base.pop("kind")
        kind = flow_kind or {"KolmogorovFlow": "kolmogorov", "DecayingTurbulence": "decaying"}[
            type(preset.flow).__name__]
        if kind == "decaying":
            for name in ("forcing_wavenumber", "forcing_amplitude", "linear_drag"):
                base.pop(name, None)
        preset_fields["flow"] = make_flow(kind, **{**base, **(flow or {})})
    if split is not None:
        preset.split(split)  # an unknown split is an error
    for name in preset.splits:
        if split_fields and (split is None or split == name):
            preset_fields[name] = dataclasses.replace(preset.split(name), **split_fields)
    if "model_size" in preset_fields and "initial_sizes" not in preset_fields:
        m = preset_fields["model_size"]
        fine = preset_fields.get("fine_size", preset.fine_size)
        preset_fields["initial_sizes"] = tuple(
            s for s in preset.initial_sizes if s % m == 0 and s != m and fine % s == 0)
    if "flow" in preset_fields or "model_size" in preset_fields:
        # keep the evaluation frame spacing when dt changes
        flow_ = preset_fields.get("flow", preset.flow)
        m = preset_fields.get("model_size", preset.model_size)
        if "save_every" not in split_fields:
            for name in ("validation", "test"):
                spec = preset_fields.get(name, getattr(preset, name))
                if spec is not None:
                    preset_fields[name] = dataclasses.replace(
                        spec, save_every=_eval_save_every(flow_, m))
    if ({"model_size", "fine_size"} & set(preset_fields) and preset.warmup_size
            and "warmup_size" not in preset_fields):
        # the coarse warm-up grid keeps its ratio to the reference grid where that still
        # is a multiple of the model grid; else the reference integrates the whole warm-up
        m = preset_fields.get("model_size", preset.model_size)
        fine = preset_fields.get("fine_size", preset.fine_size)
        scaled = fine * preset.warmup_size / preset.fine_size
        keep = scaled == int(scaled) and int(scaled) >= m and int(scaled) % m == 0
        preset_fields["warmup_size"] = int(scaled) if keep else 0
        if not keep and "refine_time" not in preset_fields:
            preset_fields["refine_time"] = 0.0
    if preset_fields.get("warmup_size") == 0:  # no coarse warm-up: nothing to refine
        preset_fields.setdefault("refine_time", 0.0)
    if {"flow", "fine_size", "reference_solver"} & set(preset_fields):
        preset_fields.setdefault("stationary", None)
    return dataclasses.replace(preset, **preset_fields)
