"""Data-generation presets: ``quickstart``, ``mini`` (2-core CPU), ``paper-lite``, ``paper`` (GPU).

============  =========  =========  ===========================  ==================================
preset        model      reference  train split                  test split
============  =========  =========  ===========================  ==================================
quickstart    32²        128²       2 traj × 6 t.u., warm-up 3   4 traj × 6 t.u., warm-up 3.9
mini          32²        256²       4 traj × 16 t.u., warm-up 5  8 traj × 12 t.u., warm-up 5.9
paper-lite    64²        1024²      16 traj × 20 t.u., warm-up   16 traj × 20 t.u., warm-up 40.9
                                    40
paper         64²        2048²      128 traj × 80 t.u., warm-up  16 traj × 20 t.u., warm-up 40.9
                                    40
============  =========  =========  ===========================  ==================================

Train frames are saved every model step (training unrolls the solver on
them); test frames every ``frame_spacing`` = 0.0561 time units (8 model steps
of the 64² grid, 4 of the 32² grid), the evaluation spacing of the protocol.
The test store also keeps the first frame on the extra grids of
``initial_sizes`` (the coarse DNS baselines start there), and the last
``history`` = 32 model steps before t = 0 on the model grid (the prefix that
a temporal stencil model encodes before its rollout; ``TSM_PREFIX``).

``mini`` shortens the warm-up from 40 to 5 time units (≈ 0.5 drag times
1/μ = 10) so that the whole data set is CPU-minutes; its flows have left the
initial spectrum but are not yet statistically stationary.  Everything else
follows reference/protocol.md.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Optional

from neuralpde.config import (ConfigError, fields_from_dict, require, require_positive,
                              require_positive_int, to_dict)
from neuralpde.physics import dns
from neuralpde.physics.flows import FlowSpec, KolmogorovFlow, flow_from_dict, make_flow

SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class SplitSpec:
    """How one split of a data set is generated.

    Args:
      n_samples: trajectories (≥ 1).
      duration: saved time span per trajectory, in time units (> 0).
      warmup: time integrated (and discarded) before the first frame (≥ 0).
      save_every: model steps between saved frames (≥ 1).
      seed: base PRNG seed; sample i uses ``fold_in(PRNGKey(seed), i)``.
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
        require(isinstance(self.seed, int) and self.seed >= 0, "seed", self.seed, "an integer >= 0")
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
      train, test: the two splits.
      initial_sizes: extra grids whose first test frame is stored.
      batch_size: trajectories integrated together (vmap + device sharding).
      time_chunk: frames per zarr chunk and per resumable block.
    """

    name: str
    flow: FlowSpec
    model_size: int
    fine_size: int
    train: SplitSpec
    test: SplitSpec
    initial_sizes: tuple[int, ...] = ()
    batch_size: int = 4
    time_chunk: int = 64

    def __post_init__(self):
        require_positive_int("model_size", self.model_size)
        require(isinstance(self.model_size, int) and self.model_size >= 8, "model_size",
                self.model_size, "an integer >= 8")
        require(isinstance(self.fine_size, int) and self.fine_size >= self.model_size
                and self.fine_size % self.model_size == 0, "fine_size", self.fine_size,
                f"an integer multiple of model_size={self.model_size}")
        for m in self.initial_sizes:
            require(isinstance(m, int) and m <= self.fine_size and self.fine_size % m == 0
                    and m % self.model_size == 0, "initial_sizes", self.initial_sizes,
                    f"multiples of model_size={self.model_size} that divide fine_size={self.fine_size}")
        require_positive_int("batch_size", self.batch_size)
        require_positive_int("time_chunk", self.time_chunk)

    def split(self, name: str) -> SplitSpec:
        if name not in SPLITS:
            raise ConfigError(f"unknown split {name!r}: accepted {list(SPLITS)}")
        return getattr(self, name)

    @property
    def dt_model(self) -> float:
        return dns.model_time_step(self.flow, self.model_size)

    @property
    def inner_steps(self) -> int:
        return dns.inner_steps(self.fine_size, self.model_size)

    def to_json(self) -> str:
        return json.dumps(to_dict(self), sort_keys=True)


def _split_from_dict(data: dict) -> SplitSpec:
    return SplitSpec(**fields_from_dict(SplitSpec, data))


def preset_from_dict(data: dict) -> Preset:
    kwargs = fields_from_dict(Preset, data)
    kwargs["flow"] = flow_from_dict(kwargs["flow"])
    kwargs["train"] = _split_from_dict(kwargs["train"])
    kwargs["test"] = _split_from_dict(kwargs["test"])
    return Preset(**kwargs)


TSM_PREFIX = 32  # frames a temporal model encodes before the rollout (published 32)
FRAME_SPACING = 0.0561  # 8 model steps of the 64² grid: the evaluation frame spacing


def _eval_save_every(flow: FlowSpec, model_size: int) -> int:
    return max(1, round(FRAME_SPACING / dns.model_time_step(flow, model_size)))


def _mini() -> Preset:
    flow = KolmogorovFlow()
    return Preset(
        name="mini", flow=flow, model_size=32, fine_size=256,
        train=SplitSpec(n_samples=4, duration=16.0, warmup=5.0, save_every=1, seed=0),
        test=SplitSpec(n_samples=8, duration=12.0, warmup=5.9,
                       save_every=_eval_save_every(flow, 32), seed=1, history=TSM_PREFIX),
        initial_sizes=(64, 128), batch_size=2, time_chunk=64)


def _quickstart() -> Preset:
    """The ``neuralpde quickstart`` demonstration: 32² from a 128² DNS, seconds of data."""
    flow = KolmogorovFlow()
    return Preset(
        name="quickstart", flow=flow, model_size=32, fine_size=128,
        train=SplitSpec(n_samples=2, duration=6.0, warmup=3.0, save_every=1, seed=0),
        test=SplitSpec(n_samples=4, duration=6.0, warmup=3.9,
                       save_every=_eval_save_every(flow, 32), seed=1, history=TSM_PREFIX),
        initial_sizes=(64,), batch_size=2, time_chunk=64)


def _paper_lite() -> Preset:
    flow = KolmogorovFlow()
    return Preset(
        name="paper-lite", flow=flow, model_size=64, fine_size=1024,
        train=SplitSpec(n_samples=16, duration=20.0, warmup=40.0, save_every=1, seed=0),
        test=SplitSpec(n_samples=16, duration=20.0, warmup=40.9,
                       save_every=_eval_save_every(flow, 64), seed=1, history=TSM_PREFIX),
        initial_sizes=(128, 256, 512), batch_size=8, time_chunk=128)


def _paper() -> Preset:
    flow = KolmogorovFlow()
    return Preset(
        name="paper", flow=flow, model_size=64, fine_size=2048,
        train=SplitSpec(n_samples=128, duration=80.0, warmup=40.0, save_every=1, seed=0),
        test=SplitSpec(n_samples=16, duration=20.0, warmup=40.9,
                       save_every=_eval_save_every(flow, 64), seed=1, history=TSM_PREFIX),
        initial_sizes=(128, 256, 512, 1024), batch_size=4, time_chunk=128)


PRESETS = {"quickstart": _quickstart, "mini": _mini, "paper-lite": _paper_lite, "paper": _paper}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: accepted {sorted(PRESETS)}")
    return PRESETS[name]()


def with_overrides(
    preset: Preset,
    split: Optional[str] = None,
    flow: Optional[dict] = None,
    flow_kind: Optional[str] = None,
    **fields,
) -> Preset:
    """A copy of ``preset`` with preset fields, split fields and flow fields replaced.

    ``fields`` may hold preset fields (``model_size``, ``fine_size``,
    ``initial_sizes``, ``batch_size``, ``time_chunk``) and split fields
    (``n_samples``, ``duration``, ``warmup``, ``save_every``, ``seed``), the
    latter applied to ``split`` (or both splits when ``split`` is None).
    ``None`` values are ignored.
    """
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
    for name in SPLITS:
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
            test = preset_fields.get("test", preset.test)
            preset_fields["test"] = dataclasses.replace(test, save_every=_eval_save_every(flow_, m))
    return dataclasses.replace(preset, **preset_fields)
