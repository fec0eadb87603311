"""The table of learned kinds: one entry per kind, and what reads it (configs, presets, CLI)."""

import dataclasses

import pytest

from neuralpde.config import ConfigError, with_fields
from neuralpde.models.config import (
    STENCIL_CONFIGS,
    LIConfig,
    StaggerModelConfig,
    StencilConfig,
    TSMCNNConfig,
    TSMConfig,
    TSMHiPPOConfig,
)
from neuralpde.training.config import (
    StaggerTrainConfig,
    TrainConfig,
    get_train_preset,
    with_model_kind,
)
from neuralpde.training.kinds import KIND_NAMES, KINDS, get_kind, kind_of, trained_by


def test_the_table_covers_every_model_config_once():
    assert KIND_NAMES == ("li", "tsm-hippo", "tsm-cnn", "stagger")
    assert all(name == kind.model_config.kind_name for name, kind in KINDS.items())
    windowed = tuple(kind.model_config for kind in KINDS.values()
                     if kind.train_config is TrainConfig)
    assert windowed == STENCIL_CONFIGS  # the classes TrainConfig.model accepts
    assert trained_by("train") == ("li", "tsm-hippo", "tsm-cnn")
    assert trained_by("stagger-train") == ("stagger",)
    assert {name for name, kind in KINDS.items() if kind.history_encoder} == {"tsm-hippo",
                                                                              "tsm-cnn"}
    with pytest.raises(ConfigError, match="unknown learned kind 'fno'"):
        get_kind("fno")


@pytest.mark.parametrize("name", KIND_NAMES)
def test_every_preset_gives_its_kinds_config_and_the_table_finds_it(name):
    kind = KINDS[name]
    config = get_train_preset("mini", name)
    assert type(config) is kind.train_config and type(config.model) is kind.model_config
    assert config.kind == name and kind_of(config) is kind
    extras = kind.checkpoint_extras(config, 8)
    assert set(extras) == ({"pool"} if name == "stagger" else set())


def test_kind_configs_hold_only_their_own_fields():
    fields = {cls: {f.name for f in dataclasses.fields(cls)} for cls in STENCIL_CONFIGS}
    assert fields[LIConfig] == {f.name for f in dataclasses.fields(StencilConfig)}
    assert fields[TSMCNNConfig] == {f.name for f in dataclasses.fields(TSMConfig)}
    assert fields[TSMHiPPOConfig] - fields[TSMCNNConfig] == {"hippo_measure", "hippo_order",
                                                              "hippo_theta"}
    assert (LIConfig().window_prefix, LIConfig().steps_per_call) == (1, 1)
    assert (TSMCNNConfig(prefix=5, bundle=2).window_prefix,
            TSMCNNConfig(prefix=5, bundle=2).steps_per_call) == (5, 2)
    with pytest.raises(ConfigError, match="not a kind"):
        TSMConfig()
    with pytest.raises(ConfigError, match="invalid model=.*LIConfig"):
        TrainConfig(model=StaggerModelConfig())
    with pytest.raises(ConfigError, match=r"unknown TrainConfig field\(s\) \['prefix'\]"):
        with_fields(get_train_preset("mini", "li"), prefix=4)
    with pytest.raises(ConfigError, match="invalid training config"):
        kind_of(dataclasses.replace(StaggerTrainConfig(), model=LIConfig()))


def test_a_config_turned_into_another_kind_keeps_what_they_share():
    tsm = with_fields(get_train_preset("quickstart", "tsm-hippo"), hidden=4, prefix=6, bundle=2,
                      unroll=2, hippo_order=4)
    li = with_model_kind(tsm, "li", "quickstart")
    assert li.model == LIConfig(hidden=4, depth=3) and li.unroll == 2
    cnn = with_model_kind(tsm, "tsm-cnn", "quickstart")
    assert (cnn.model.prefix, cnn.model.bundle, cnn.model.hidden) == (6, 2, 4)
    back = with_model_kind(with_fields(li, unroll=4), "tsm-hippo", "quickstart")  # the preset's
    assert back.model == dataclasses.replace(get_train_preset("quickstart", "tsm-hippo").model,
                                             hidden=4)
    assert with_model_kind(tsm, "tsm-hippo") is tsm
    with pytest.raises(ConfigError, match=r"invalid model='fno': accepted one of \['li', "
                                          r"'tsm-hippo', 'tsm-cnn', 'stagger'\]"):
        get_train_preset("mini", "fno")


def test_the_cli_reads_its_model_choices_from_the_table_and_ignores_other_kinds_options(
        capsys):
    from neuralpde.cli import build_parser, read_by

    parser = build_parser()
    train = parser.commands["train"]
    model = next(a for a in train._actions if a.dest == "model")
    assert tuple(model.choices) == trained_by("train") and model.default == "li"
    assert "tsm-cnn: the last PREFIX frames as channels" in model.help
    given = {"hidden": 8, "prefix": 4, "hippo_order": 2, "bundle": None}
    assert read_by(get_train_preset("mini", "li"), given) == {"hidden": 8}
    assert read_by(get_train_preset("mini", "tsm-cnn"), given) == {"hidden": 8, "prefix": 4,
                                                                  "bundle": None}
