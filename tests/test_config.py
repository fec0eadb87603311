"""Flow specifications and presets: defaults, serialisation, validation messages."""

import dataclasses
import json
import math

import pytest

from neuralpde.cli import main
from neuralpde.config import ConfigError, to_dict
from neuralpde.physics.flows import DecayingTurbulence, KolmogorovFlow, flow_from_dict, make_flow
from neuralpde.store.presets import get_preset, preset_from_dict, with_overrides


def test_kolmogorov_defaults_are_the_published_ones():
    flow = KolmogorovFlow()
    assert (flow.viscosity, flow.density, flow.domain_size) == (1e-3, 1.0, 2 * math.pi)
    assert (flow.forcing_wavenumber, flow.forcing_amplitude, flow.linear_drag) == (4, 1.0, 0.1)
    assert (flow.max_velocity, flow.peak_wavenumber, flow.courant) == (7.0, 4.0, 0.5)
    assert flow.reynolds_number == pytest.approx(1000)


@pytest.mark.parametrize("flow", [KolmogorovFlow(viscosity=2.5e-4, domain_size=4 * math.pi),
                                  DecayingTurbulence()])
def test_flow_round_trips_through_json(flow):
    assert flow_from_dict(json.loads(json.dumps(to_dict(flow)))) == flow


@pytest.mark.parametrize("preset", ["mini", "paper-lite", "paper"])
def test_preset_round_trips_and_matches_protocol(preset):
    p = get_preset(preset)
    assert preset_from_dict(json.loads(p.to_json())) == p
    assert p.fine_size % p.model_size == 0
    # validation and test are saved at the protocol's evaluation spacing (0.0561 time units)
    assert p.test.save_every * p.dt_model == pytest.approx(0.0561, rel=1e-3)
    assert p.validation.save_every == p.test.save_every and p.train.save_every == 1
    assert p.splits == ("train", "validation", "test")
    assert p.validation.history == p.test.history == 32


def test_paper_presets():
    paper, lite, mini = get_preset("paper"), get_preset("paper-lite"), get_preset("mini")
    assert (paper.model_size, paper.fine_size, paper.inner_steps) == (64, 2048, 32)
    assert (paper.train.n_samples, paper.train.duration, paper.train.warmup) == (128, 80.0, 40.0)
    assert (paper.test.n_samples, paper.test.duration, paper.test.warmup) == (16, 20.0, 40.9)
    assert (lite.model_size, lite.fine_size) == (64, 1024)
    assert (mini.model_size, mini.fine_size, mini.test.n_samples) == (32, 256, 32)
    assert mini.test.duration >= 12
    # the published protocol's reference stays finite volume; mini's is pseudo-spectral,
    # warmed up on the 128² FV grid (experiments/reference_convergence.py)
    assert paper.reference_solver == lite.reference_solver == "fv"
    assert (mini.reference_solver, mini.warmup_size, mini.refine_time) == ("spectral", 128, 1.0)


@pytest.mark.parametrize("build, message", [
    (lambda: KolmogorovFlow(viscosity=-1e-3), "viscosity=-0.001: accepted a finite number > 0"),
    (lambda: KolmogorovFlow(courant=1.5), "courant=1.5: accepted a number in (0, 1]"),
    (lambda: KolmogorovFlow(domain_size=3.0), "forcing_wavenumber=4"),
    (lambda: with_overrides(get_preset("mini"), fine_size=100),
     "fine_size=100: accepted an integer multiple of model_size=32"),
    (lambda: with_overrides(get_preset("mini"), n_samples=0),
     "n_samples=0: accepted an integer >= 1"),
    (lambda: get_preset("huge"),
     "unknown preset 'huge': accepted ['mini', 'paper', 'paper-lite', 'quickstart']"),
    (lambda: make_flow("channel"), "unknown flow 'channel'"),
    (lambda: with_overrides(get_preset("mini"), bogus=1), "unknown Preset field(s) ['bogus']"),
])
def test_invalid_configs_name_the_value_and_the_accepted_range(build, message):
    with pytest.raises(ConfigError) as error:
        build()
    assert message in str(error.value)


def test_overrides_keep_the_evaluation_spacing_and_valid_initial_sizes():
    p = with_overrides(get_preset("mini"), model_size=16, fine_size=128)
    assert p.test.save_every * p.dt_model == pytest.approx(0.0561, rel=0.3)
    assert p.initial_sizes == (64, 128)  # both still multiples of 16 that divide 128
    q = with_overrides(get_preset("mini"), split="train", n_samples=7)
    assert q.train.n_samples == 7 and q.test.n_samples == get_preset("mini").test.n_samples
    r = with_overrides(get_preset("mini"), flow_kind="decaying", flow={"viscosity": 2e-3})
    assert isinstance(r.flow, DecayingTurbulence) and r.flow.viscosity == 2e-3
    assert dataclasses.replace(r, name="x").name == "x"


@pytest.mark.parametrize("argv, message", [
    (["--viscosity", "-1"], "invalid viscosity=-1.0 (--viscosity): accepted a finite number > 0"),
    (["--viscosity", "-1e-3"],
     "invalid viscosity=-0.001 (--viscosity): accepted a finite number > 0"),
    (["--linear-drag", "-inf"], "linear_drag=-inf (--linear-drag)"),
    (["--courant", "2"], "invalid courant=2.0 (--courant): accepted a number in (0, 1]"),
    (["--fine-size", "100"], "invalid fine_size=100 (--fine-size)"),
    (["--samples", "0"], "invalid n_samples=0 (--samples)"),
    (["--initial-sizes", "0"], "invalid initial_sizes=(0,) (--initial-sizes)"),
    (["--initial-sizes", "-64"], "invalid initial_sizes=(-64,) (--initial-sizes)"),
    (["--preset", "huge"], "unknown preset 'huge'"),
])
def test_cli_rejects_bad_input_with_exit_status_2(tmp_path, capsys, argv, message):
    status = main(["generate", "--out", str(tmp_path / "data"), "--no-progress", *argv])
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # nothing half-written


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "d", "--lr", "-1"], "invalid peak_lr=-1.0 (--lr): accepted"),
    (["train", "--data", "d", "--train-trajectories", "-1"],
     "invalid train_trajectories=-1 (--train-trajectories): accepted"),
    (["stagger-train", "--pool-size", "0"], "invalid pool_size=0 (--pool-size): accepted"),
    (["train", "--data", "d", "--seed", str(2**63)],
     f"invalid seed={2**63} (--seed): accepted an integer in [0, 2147483647]"),
    (["stagger-train", "--seed", str(2**31)], "invalid seed=2147483648 (--seed): accepted"),
])
def test_a_config_error_names_the_option_that_sets_the_field(tmp_path, capsys, argv, message):
    assert main([*argv, "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("option, value, message", [
    ("--bundle", "0", "invalid bundle=0 (--bundle): accepted an integer >= 1"),
    ("--prefix", "-5", "invalid prefix=-5 (--prefix): accepted an integer >= 1"),
    ("--hippo-order", "-1", "invalid hippo_order=-1 (--hippo-order): accepted an integer >= 1"),
    ("--hippo-theta", "-1", "invalid hippo_theta=-1.0 (--hippo-theta): accepted a number >= 0"),
])
def test_an_option_of_another_model_is_still_checked(tmp_path, capsys, option, value, message):
    """`train --model li --bundle 0`: LI reads no bundle, but 0 is no bundle for any model;
    refused (exit 2, nothing written) as it is for a TSM model."""
    for model in ("li", "tsm-cnn", "tsm-hippo"):
        assert main(["train", "--model", model, "--data", "d", "--out", str(tmp_path / "run"),
                     option, value, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err
        assert not (tmp_path / "run").exists()


def test_train_warns_of_the_options_its_model_does_not_read(tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "li", "--data", str(tiny_data), "--out", str(run),
                 "--preset", "quickstart", "--steps", "1", "--batch-size", "2", "--unroll", "2",
                 "--hidden", "4", "--depth", "1", "--validate-every", "0",
                 "--validation-samples", "1", "--validation-horizon", "0.2",
                 "--prefix", "5", "--bundle", "2", "--hippo-order", "3", "--feature-norm", "rms",
                 "--no-progress"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == ["neuralpde train: warning: --model li does not read --prefix, --bundle, "
                        "--feature-norm (TSM options), --hippo-order (tsm-hippo options); "
                        "ignored"]
    assert main(["train", "--model", "li", "--data", "d", "--out", str(tmp_path / "other"),
                 "--hidden", "4", "--no-progress"]) == 2  # its own options: no warning
    assert "warning" not in capsys.readouterr().err


def test_cli_help_documents_every_generate_option(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = capsys.readouterr().out
    for option in ["--preset", "--out", "--split", "--samples", "--duration", "--warmup",
                   "--save-every", "--seed", "--model-size", "--fine-size", "--viscosity",
                   "--domain-size", "--forcing-wavenumber", "--flow", "--batch-size"]:
        assert option in text


@pytest.mark.parametrize("command", ["quickstart", "generate", "export", "evaluate", "compare",
                                     "train", "stagger-train", "stagger-evaluate", "import"])
def test_every_help_shows_real_defaults(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "default: None" not in text
    if command == "generate":  # preset-backed options list each preset's value
        assert "--samples SAMPLES     trajectories per split (preset: mini 8/4/32," in text


def test_the_larger_domain_example_of_the_docs_is_accepted():
    """docs/store.md's `--domain-size ... --model-size ... --fine-size ...` example plans
    every split (the flags are read from the document itself)."""
    import re
    import shlex
    from pathlib import Path

    from neuralpde.cli import build_parser
    from neuralpde.store.plan import plan_split
    from neuralpde.store.presets import get_preset, with_overrides

    text = (Path(__file__).resolve().parents[1] / "docs" / "store.md").read_text()
    flags = re.search(r"`(--domain-size [^`]+)`", text).group(1)
    args = build_parser().parse_args(["generate", "--out", "x", *shlex.split(flags)])
    assert args.domain_size == pytest.approx(4 * math.pi, rel=1e-15)
    preset = with_overrides(get_preset("mini"), flow={"domain_size": args.domain_size},
                            model_size=args.model_size, fine_size=args.fine_size)
    for split in preset.splits:
        plan_split(preset, split)


def test_a_leftover_argument_is_reported_by_its_command(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["stagger-train", "--out", str(tmp_path / "run"), "--project", "1"])
    assert exit_info.value.code == 2 and not (tmp_path / "run").exists()
    assert ("neuralpde stagger-train: error: unrecognized arguments: 1 "
            "(see `neuralpde stagger-train --help`)") in capsys.readouterr().err


def test_an_option_before_the_command_is_named_and_version_prints(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--project", "1", "stagger-train"])
    assert exit_info.value.code == 2
    assert ("neuralpde: error: --project is not an option of neuralpde itself: a command's "
            "options go after the command") in capsys.readouterr().err
    from neuralpde import version_line
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])  # its format in and outside a checkout: tests/test_provenance.py
    assert exit_info.value.code == 0 and capsys.readouterr().out == version_line() + "\n"


def test_version_on_a_full_disk_is_one_line_and_exit_2():
    """`neuralpde --version > /dev/full` is reported like every command's full disk (one line,
    status 2), not as an OSError traceback."""
    import os
    import subprocess
    import sys

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "neuralpde.cli", "--version"], stdout=full,
                              stderr=subprocess.PIPE, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr == ("neuralpde: error: cannot write the output: the disk is full; free "
                           "space there or write somewhere writable and re-run\n")


def test_output_piped_into_a_reader_that_leaves_early_ends_quietly():
    """`neuralpde pretrained | head -1`: the reader closes the pipe before the command writes;
    the command ends with status 141 (as for SIGPIPE), no BrokenPipeError traceback."""
    import shutil
    import subprocess

    command = shutil.which("neuralpde")
    if command is None:
        pytest.skip("the neuralpde console script is not on PATH (package not installed)")
    proc = subprocess.Popen([command, "pretrained"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command has written anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err
