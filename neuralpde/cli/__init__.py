"""The ``neuralpde`` command line: ``quickstart | generate | export | evaluate | compare | train |
stagger-train | stagger-evaluate | import | plan | pretrained``.

Every sub-command validates its options and exits with status 2 and a
one-line message naming the bad value and the accepted range.  Options that
set config fields are declared once, as ``(flags, field, argparse kwargs)``
tables (:data:`~neuralpde.cli.options.LOOP_OPTIONS`,
:data:`~neuralpde.cli.options.TRAIN_OPTIONS`,
:data:`~neuralpde.cli.options.STAGGER_OPTIONS`), and turned into config overrides by
:func:`~neuralpde.cli.options.overrides`.

The modules, top down:

* :mod:`neuralpde.cli.shell` — the parser, :func:`~neuralpde.cli.shell.main` (one
  command, its errors as one line and an exit status) and
  :func:`~neuralpde.cli.shell.entry` (the console script);
* :mod:`neuralpde.cli.commands_data` (``generate``, ``export``, ``import``),
  :mod:`neuralpde.cli.commands_eval` (``evaluate``, ``compare``, ``stagger-evaluate``,
  ``quickstart``, ``pretrained``) and :mod:`neuralpde.cli.commands_train` (``train``,
  ``stagger-train``, ``plan``): each command's parser (``add_<command>``) and run;
* :mod:`neuralpde.cli.options` (the option tables and their config overrides),
  :mod:`neuralpde.cli.paths` (the output paths) and :mod:`neuralpde.cli.environment`
  (``XLA_FLAGS``, ``JAX_PLATFORMS``).

The names below are re-exported here, where the console script
(``neuralpde = "neuralpde.cli:entry"``) and the tests find them.
"""

from neuralpde.cli.commands_data import warmup_report
from neuralpde.cli.environment import XLA_FLAGS_CHECKED_ENV, check_jax_platforms, check_xla_flags
from neuralpde.cli.options import (
    FLOW_OPTIONS,
    GENERATE_OPTIONS,
    GENERATE_PRESETS,
    LOOP_OPTIONS,
    STAGGER_OPTIONS,
    TRAIN_OPTIONS,
    add_options,
    joined_negative_values,
    overrides,
    read_by,
    stencil_presets,
    unread_options,
    with_option_name,
)
from neuralpde.cli.paths import abbreviated, check_output_folder, name_too_long
from neuralpde.cli.shell import COMMANDS, DISK_ERRORS, NO_JAX_COMMANDS, build_parser, entry, main

__all__ = [
    "COMMANDS", "DISK_ERRORS", "FLOW_OPTIONS", "GENERATE_OPTIONS", "GENERATE_PRESETS",
    "LOOP_OPTIONS", "NO_JAX_COMMANDS", "STAGGER_OPTIONS", "TRAIN_OPTIONS",
    "XLA_FLAGS_CHECKED_ENV", "abbreviated", "add_options", "build_parser", "check_jax_platforms",
    "check_output_folder", "check_xla_flags", "entry", "joined_negative_values", "main",
    "name_too_long", "overrides", "read_by", "stencil_presets", "unread_options",
    "warmup_report", "with_option_name",
]
