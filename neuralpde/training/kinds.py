"""The table of learned kinds: one entry per kind, holding everything the package asks of it.

:data:`KINDS` maps a kind's name (``run.json``'s ``kind``, ``--model`` of
``neuralpde train``) to a :class:`LearnedKind`: its model config class (tagged
in ``run.json``), its training config class, its solver builder, its training
task, its checkpoint extras and what the command line says about it.  The
training loop (:func:`neuralpde.training.loop.train`), the run folders
(:mod:`neuralpde.training.runs`), the pretrained weights, the registry, the
command line and the quickstart read it; none of them branches on a kind
itself.

Adding a learned kind: its network (:mod:`neuralpde.models`), its config
class naming the kind (:mod:`neuralpde.models.config`: a subclass of
:class:`~neuralpde.models.config.StencilConfig` added to the union
:data:`~neuralpde.models.config.StencilModelConfig` trains on store windows
with :class:`~neuralpde.training.config.TrainConfig`), its solver builder
(:mod:`neuralpde.solvers`), and one entry here.

The kind's names are written once, in their config classes
(``LIConfig.kind_name = "li"``, ...); :data:`KIND_NAMES` is the tuple every
other module reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from neuralpde.config import ConfigError
from neuralpde.models.config import (
    LIConfig,
    StaggerModelConfig,
    TSMCNNConfig,
    TSMHiPPOConfig,
)
from neuralpde.solvers.learned import build_li_solver, build_tsm_solver, unscaled_encoder
from neuralpde.solvers.staggered import build_stagger_solver
from neuralpde.training.config import StaggerTrainConfig, TrainConfig
from neuralpde.training.staggered import checkpoint_extras, stagger_task
from neuralpde.training.task import Task
from neuralpde.training.windowed import windowed_config, windowed_task


@dataclasses.dataclass(frozen=True)
class LearnedKind:
    """One learned kind: what the loop, the run folders, the registry and the CLI need of it.

    Attributes:
      model_config: its model config class (tagged by class name in ``run.json``;
        its ``kind_name`` is the kind's name).
      train_config: its training config class (:class:`TrainConfig`: store
        windows through the unrolled solver; :class:`StaggerTrainConfig`).
      build_solver: ``(model config, seed, flow, size, name=..., **saved) ->
        solver`` with initial weights from ``seed``; ``saved``: the fields of
        ``saved_fields`` the run recorded.
      saved_fields: the ``run.json`` fields besides the config the solver is
        rebuilt from (a TSM model's ``feature_scale``, a staggered set's ``fine_dt``).
      prepare: ``(config, data_dir) -> config``: the config the run folder
        records (refusing, before any work, a run its data cannot serve).
      task: ``(config, data_dir, flow, name, existing, devices) ->``
        :class:`~neuralpde.training.task.Task`, what the one loop runs;
        ``existing``: the run's ``run.json`` when resuming.
      checkpoint_extras: ``(config, model size) -> dict``: the state saved with
        every checkpoint besides parameters and optimiser state (its shapes).
      history_encoder: ``model config -> encoder`` of a kind whose network
        reads a temporal memory (for the needed-history note of ``neuralpde
        train``), else None.
      command: the ``neuralpde`` command that trains it.
      description: what it is, in the help of ``--model``.
    """

    model_config: type
    train_config: type
    build_solver: Callable[..., Any]
    saved_fields: tuple[str, ...]
    prepare: Callable[[Any, Any], Any]
    task: Callable[..., Task]
    checkpoint_extras: Callable[[Any, int], dict]
    history_encoder: Callable[[Any], Any] | None
    command: str
    description: str

    @property
    def name(self) -> str:
        """The kind's name: ``run.json``'s ``kind``, the ``--model`` choice."""
        return self.model_config.kind_name


def _windowed(build_solver):
    """The task function of a kind trained on store windows with ``build_solver``."""
    def task(config, data_dir, flow, name, existing, devices) -> Task:
        del flow  # the store's
        return windowed_task(config, data_dir, build_solver, name=name, existing=existing,
                             devices=devices)
    return task


def _stagger(config, data_dir, flow, name, existing, devices) -> Task:
    del existing  # the pool is restored from the checkpoint
    return stagger_task(config, data_dir, flow=flow, name=name, devices=devices)


def _as_given(config, data_dir):
    del data_dir
    return config


def _no_extras(config, size: int) -> dict:
    del config, size
    return {}


_STENCIL = dict(train_config=TrainConfig, prepare=windowed_config,
                checkpoint_extras=_no_extras, command="train")

#: Every learned kind, by name (in the order the command line lists them).
KINDS: dict[str, LearnedKind] = {kind.name: kind for kind in (
    LearnedKind(model_config=LIConfig, build_solver=build_li_solver, saved_fields=(),
                task=_windowed(build_li_solver), history_encoder=None,
                description="learned interpolation", **_STENCIL),
    LearnedKind(model_config=TSMHiPPOConfig, build_solver=build_tsm_solver,
                saved_fields=("feature_scale",), task=_windowed(build_tsm_solver),
                history_encoder=unscaled_encoder,
                description="temporal stencil modeling with HiPPO memories", **_STENCIL),
    LearnedKind(model_config=TSMCNNConfig, build_solver=build_tsm_solver,
                saved_fields=("feature_scale",), task=_windowed(build_tsm_solver),
                history_encoder=unscaled_encoder,
                description="the last PREFIX frames as channels", **_STENCIL),
    LearnedKind(model_config=StaggerModelConfig, train_config=StaggerTrainConfig,
                build_solver=build_stagger_solver, saved_fields=("fine_dt",),
                prepare=_as_given, task=_stagger, checkpoint_extras=checkpoint_extras,
                history_encoder=None, command="stagger-train",
                description="staggered coarse sub-solvers (NeuralStagger-style)"),
)}
#: The kinds' names: ``('li', 'tsm-hippo', 'tsm-cnn', 'stagger')``.
KIND_NAMES = tuple(KINDS)
_BY_MODEL = {kind.model_config: kind for kind in KINDS.values()}


def get_kind(name: str) -> LearnedKind:
    """The kind named ``name``; :class:`ConfigError` naming the kinds otherwise."""
    if name not in KINDS:
        raise ConfigError(f"unknown learned kind {name!r}: accepted {list(KIND_NAMES)}")
    return KINDS[name]


def kind_of(config) -> LearnedKind:
    """The kind a training config trains (by its model config's class)."""
    kind = _BY_MODEL.get(type(getattr(config, "model", None)))
    if kind is None or not isinstance(config, kind.train_config):
        accepted = dict.fromkeys(k.train_config.__name__ for k in KINDS.values())
        raise ConfigError(f"invalid training config {type(config).__name__}: accepted "
                          f"{' or '.join(accepted)}")
    return kind


def trained_by(command: str) -> tuple[str, ...]:
    """The names of the kinds the ``neuralpde`` command ``command`` trains."""
    return tuple(name for name, kind in KINDS.items() if kind.command == command)


__all__ = ["LearnedKind", "KINDS", "KIND_NAMES", "get_kind", "kind_of", "trained_by"]
