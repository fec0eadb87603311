"""The command-line layer alone (``neuralpde.cli``): its parser, its one-line errors and
its helpers, in seconds (nothing is generated, trained or evaluated).

What a command does with good and bad input end to end is tested with the command
(tests/test_config.py, tests/test_faults.py, tests/test_hostile_round3.py).
"""

import ast
import os
import re
import subprocess
import sys
import tomllib
from importlib import import_module
from pathlib import Path

import pytest

import neuralpde
import neuralpde.cli
from neuralpde.cli import (
    abbreviated,
    build_parser,
    joined_negative_values,
    main,
    name_too_long,
    with_option_name,
)

REPO = Path(__file__).resolve().parents[1]
#: Every ``neuralpde`` command, in the order of the help.
COMMANDS = ["quickstart", "generate", "export", "evaluate", "compare", "train", "stagger-train",
            "stagger-evaluate", "import", "plan", "pretrained"]


def test_the_parser_has_every_command_in_the_order_of_the_help(capsys):
    parser = build_parser()
    assert list(parser.commands) == COMMANDS
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "{" + ",".join(COMMANDS) + "}" in capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_the_help_of_every_command_exits_0(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"usage: neuralpde {command} ") and captured.err == ""


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "d", "--out", "o", "--steps", "x"],
     "argument --steps: invalid int value: 'x'"),
    (["stagger-train", "--out", "o", "--div-weight", "heavy"],
     "argument --div-weight: invalid float value: 'heavy'"),
    (["generate", "--out", "o", "--flow", "laminar"], "argument --flow: invalid choice: 'laminar'"),
    (["evaluate", "--data", "d", "--solver", "dns", "--out", "o", "--threshold", "high"],
     "argument --threshold: invalid float value: 'high'"),
    (["compare", "--results", "r", "--times", "soon"],
     "argument --times: invalid float value: 'soon'"),
    (["plan", "--device-class", "tpu"], "argument --device-class: invalid choice: 'tpu'"),
    (["train", "--data", "d", "--out", "o", "--hippo-measure", "x"],
     "argument --hippo-measure: invalid choice: 'x'"),
    (["quickstart", "--steps", "1.5"], "argument --steps: invalid int value: '1.5'"),
])
def test_a_bad_option_value_exits_2_with_one_line_naming_the_option(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"neuralpde {argv[0]}: error: {message}"), err
    assert err.endswith(f"(see `neuralpde {argv[0]} --help`)\n"), err


def test_a_missing_or_unknown_command_exits_2_in_one_line(capsys):
    for argv, says in (([], "the following arguments are required: command"),
                       (["simulate"], "argument command: invalid choice: 'simulate'")):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.count("\n") == 1
        assert err.startswith(f"neuralpde: error: {says}"), err


@pytest.mark.parametrize("argv, joined", [
    (["--viscosity", "-1e-3"], ["--viscosity=-1e-3"]),
    (["--linear-drag", "-inf", "--courant", "-NaN"], ["--linear-drag=-inf", "--courant=-NaN"]),
    (["--lr", "-.5", "--hippo-theta", "-2."], ["--lr=-.5", "--hippo-theta=-2."]),
    (["--seed", "-3", "--out", "o"], ["--seed=-3", "--out", "o"]),
    (["-1"], ["-1"]),                                   # nothing before it to join to
    (["-x", "-1"], ["-x", "-1"]),                       # a short option is left alone
    (["--seed=1", "-1"], ["--seed=1", "-1"]),           # the option has its value already
    (["--out", "-results"], ["--out", "-results"]),     # not a number: an option
    (["--seed", "-1e"], ["--seed", "-1e"]),
])
def test_joined_negative_values(argv, joined):
    assert joined_negative_values(argv) == joined


def test_a_joined_negative_value_reaches_the_options_own_check():
    args = build_parser().parse_args(joined_negative_values(
        ["generate", "--out", "o", "--viscosity", "-1e-3"]))
    assert args.viscosity == -1e-3


@pytest.mark.parametrize("message, command, named", [
    ("invalid peak_lr=-1.0: accepted a finite number > 0", "train",
     "invalid peak_lr=-1.0 (--lr): accepted a finite number > 0"),
    ("invalid pool_size=0: accepted an integer >= 1", "stagger-train",
     "invalid pool_size=0 (--pool-size): accepted an integer >= 1"),
    ("invalid n_samples=0: accepted an integer >= 1", "generate",
     "invalid n_samples=0 (--samples): accepted an integer >= 1"),
    ("invalid initial_sizes=(0, 16): accepted sizes >= 1", "generate",
     "invalid initial_sizes=(0, 16) (--initial-sizes): accepted sizes >= 1"),
    ("invalid seed=-1", "train", "invalid seed=-1 (--seed)"),
    # a field no option of the command sets, another command, another message: unchanged
    ("invalid kernel=4: accepted an odd integer", "train", None),
    ("invalid pool_size=0: accepted an integer >= 1", "train", None),
    ("invalid peak_lr=-1.0: accepted a finite number > 0", "evaluate", None),
    ("no trajectory store at x", "generate", None),
])
def test_with_option_name(message, command, named):
    assert with_option_name(message, command) == (message if named is None else named)


def test_abbreviated():
    assert abbreviated("results/dns-32") == "results/dns-32"
    assert abbreviated("a" * 40) == "a" * 40                       # up to `keep`: as it is
    long = "b" * 12 + "c" * 276 + "d" * 12
    assert abbreviated(f"/data/{long}/run") == (
        f"/data/{'b' * 12}...{'d' * 12} (300 characters)/run")   # each long name alone
    assert abbreviated("0123456789abcdefghijklmnop", keep=10) == (
        "0123456789ab...efghijklmnop (26 characters)")


def test_name_too_long(tmp_path):
    assert name_too_long(tmp_path / "new" / "run") == ""
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    long = "a" * (name_max + 1)
    assert name_too_long(tmp_path / long / "x") == (
        f"the name {abbreviated(long)} is {name_max + 1} bytes, longer than the {name_max} the "
        "file system allows")
    wide = "é" * (name_max // 2 + 1)                               # two bytes a character
    assert f"is {len(wide.encode())} bytes" in name_too_long(tmp_path / wide)
    path_max = os.pathconf(tmp_path, "PC_PATH_MAX")
    deep = tmp_path.joinpath(*["f" * 100] * (path_max // 100 + 1))
    size = len(os.fsencode(str(deep)))
    assert name_too_long(deep) == (
        f"the path is {size} bytes, longer than the {path_max - 1} the file system allows")


def test_version_prints_the_package_version():
    done = subprocess.run([sys.executable, "-m", "neuralpde.cli", "--version"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert re.fullmatch(rf"neuralpde {re.escape(neuralpde.__version__)}( \(git [0-9a-f]+"
                        r"(\+dirty)?\))?\n", done.stdout), done.stdout


def test_the_console_script_and_the_public_names_are_found_in_the_package():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = scripts["neuralpde"].partition(":")
    assert getattr(import_module(module), name) is neuralpde.cli.shell.entry
    for name in neuralpde.cli.__all__:
        value = getattr(neuralpde.cli, name)
        owners = [m for m in ("shell", "options", "commands_data", "paths", "environment")
                  if getattr(getattr(neuralpde.cli, m), name, None) is value]
        assert owners, f"neuralpde.cli.{name} is no module's own"


def test_the_cli_modules_are_small_and_share_only_public_names():
    """Issue 29: every module under 500 lines, every function under about 60, and no
    module imports another's private name."""
    for path in sorted((REPO / "neuralpde" / "cli").glob("*.py")):
        source = path.read_text()
        assert source.count("\n") < 500, path.name
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                assert node.end_lineno - node.lineno < 60, f"{path.name}: {node.name}"
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("neuralpde"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"
