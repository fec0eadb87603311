"""The ``neuralpde`` process: its parser, :func:`main` (one command, its errors as one line
and an exit status) and :func:`entry`, the console script."""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import sys

from neuralpde.cli.commands_data import add_export, add_generate, add_import
from neuralpde.cli.commands_eval import (
    add_compare,
    add_evaluate,
    add_pretrained,
    add_quickstart,
    add_stagger_evaluate,
)
from neuralpde.cli.commands_train import add_plan, add_stagger_train, add_train
from neuralpde.cli.environment import check_jax_platforms, check_xla_flags
from neuralpde.cli.options import joined_negative_values, with_option_name
from neuralpde.cli.paths import abbreviated, check_output_folder, new_folders, remove_empty
from neuralpde.config import UserInputError, printable

#: Errors of the file system that are the user's to fix (read-only, full, no permission).
DISK_ERRORS = {errno.EROFS: "the file system is read-only", errno.ENOSPC: "the disk is full",
               errno.EDQUOT: "the disk quota is exceeded", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied"}


#: The commands, in the order of the help: each adds itself to the sub-command parsers.
COMMANDS = [add_quickstart, add_generate, add_export, add_evaluate, add_compare, add_train,
            add_stagger_train, add_stagger_evaluate, add_import, add_plan, add_pretrained]


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
    """The ``neuralpde`` argument parser, with every command of :data:`COMMANDS`."""
    parser = _Parser(
        prog="neuralpde", description="Neural PDE solvers for 2-D Navier-Stokes turbulence.")
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(subparsers)
    parser.commands = dict(subparsers.choices)
    return parser


#: Commands that never start a JAX backend (no ``JAX_PLATFORMS`` check before them).
NO_JAX_COMMANDS = ("compare", "export", "pretrained")


def _kept(args) -> str:
    """What a hard stop of ``args.command`` leaves, and how to go on (best effort)."""
    out = getattr(args, "out", None)
    command = args.command
    if command in ("train", "stagger-train"):
        from neuralpde.training.run_folder import RunFolder

        last = RunFolder(out).last_checkpoints
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
        _prepare_process(args.command)
    except UserInputError as error:
        _reported(f"{prefix}: error: {error}")
        return 2
    made = new_folders(args)
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
        if not _reported_os_error(error, args, prefix, made):
            raise
        return 2
    except Exception as error:  # out of device or host memory: the user's sizes, not a bug
        if not _reported_out_of_memory(error, prefix):
            raise
        return 2


def _prepare_process(command: str) -> None:
    """Before ``command`` runs: check ``XLA_FLAGS``, join the other processes of a
    multi-process job, check ``JAX_PLATFORMS`` (the checks only for a command that starts
    JAX); :class:`UserInputError` (one line) when one refuses."""
    if command not in NO_JAX_COMMANDS:
        check_xla_flags()  # before anything starts a backend (jax.distributed included)
    _start_processes(command)
    if command not in NO_JAX_COMMANDS:
        check_jax_platforms()


def _reported_os_error(error: OSError, args, prefix: str, made) -> bool:
    """Report ``error`` in one line when it is the user's to fix (a name too long, after
    removing the folders ``made`` for the output if empty; a read-only or full disk, no
    permission: :data:`DISK_ERRORS`); False, reporting nothing, for any other."""
    if error.errno == errno.ENAMETOOLONG:  # a name given (or made from one) too long
        remove_empty(made)
        where = abbreviated(error.filename or getattr(args, "out", None) or "a path")
        _reported(f"{prefix}: error: {where}: a name in this path is longer than the file "
                  "system allows (File name too long); pass a shorter path")
        return True
    if error.errno not in DISK_ERRORS:
        return False
    where = error.filename or getattr(args, "out", None) or "the output"
    full = error.errno in (errno.ENOSPC, errno.EDQUOT)
    fix = "free space there or write to another disk" if full else "write somewhere writable"
    _reported(f"{prefix}: error: cannot write {where}: {DISK_ERRORS[error.errno]}; {fix} "
              "and re-run (finished work is kept and resumed; nothing half-written is read)")
    return True


def _reported_out_of_memory(error: Exception, prefix: str) -> bool:
    """Report ``error`` in one line when the device or the host ran out of memory (the
    user's sizes, not a bug); False, reporting nothing, for any other."""
    if not isinstance(error, MemoryError) and (
            type(error).__name__ not in ("JaxRuntimeError", "XlaRuntimeError")
            or not ("RESOURCE_EXHAUSTED" in str(error)
                    or "Out of memory allocating" in str(error))):
        return False
    _reported(f"{prefix}: error: out of memory: {str(error).splitlines()[0][:160]}; reduce "
              "the batch size, the number of samples or the grid sizes")
    return True


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

