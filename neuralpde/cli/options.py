"""The options of the ``neuralpde`` commands: option tables, config overrides, help.

Options that set config fields are declared once, as ``(flags, field, argparse
kwargs)`` tables (:data:`LOOP_OPTIONS`, :data:`TRAIN_OPTIONS`,
:data:`STAGGER_OPTIONS`, :data:`GENERATE_OPTIONS`), added to a command's parser by
:func:`add_options` and turned into config overrides by :func:`overrides`; a config
check's message names the option that set the field (:func:`with_option_name`).
"""

from __future__ import annotations

import argparse
import re

from neuralpde.models.config import FEATURE_NORMS, HIPPO_MEASURES

#: Flow fields ``neuralpde generate`` sets from options of the same name.
FLOW_OPTIONS = ("viscosity", "domain_size", "forcing_wavenumber", "linear_drag",
                "max_velocity", "peak_wavenumber", "courant")

#: Options of every training command: (flags, config field, argparse kwargs).
LOOP_OPTIONS = (
    (("--steps",), "steps", dict(type=int, help="optimiser updates")),
    (("--batch-size",), "batch_size", dict(type=int, help="windows (or pool states) per update, "
                                                          "a multiple of the device count")),
    (("--hidden",), "hidden", dict(type=int, help="conv tower width")),
    (("--depth",), "depth", dict(type=int, help="conv tower hidden layers")),
    (("--lr",), "peak_lr", dict(type=float, help="peak learning rate")),
    (("--checkpoint-every",), "checkpoint_every", dict(type=int, help="checkpoint every K steps")),
    (("--validate-every",), "validate_every",
     dict(type=int, help="validation every K steps (0: at the end); needs a data folder")),
    (("--validation-samples",), "validation_samples",
     dict(type=int, help="validation trajectories rolled out")),
    (("--validation-horizon",), "validation_horizon",
     dict(type=float, help="time units rolled out for validation")),
    (("--seed",), "seed", dict(type=int, help="initial weights and the order of the data")),
)
#: Options of ``neuralpde train`` (LI, TSM) besides :data:`LOOP_OPTIONS`.
TRAIN_OPTIONS = (
    (("--unroll",), "unroll", dict(type=int, help="model steps unrolled per window (TSM: a "
                                                  "multiple of the bundle)")),
    (("--order",), "order", dict(type=int, help="polynomial order of the stencil constraint")),
    (("--prefix",), "prefix", dict(type=int, help="TSM: frames encoded before the rollout (K)")),
    (("--bundle",), "bundle", dict(type=int, help="TSM: steps per network call (B)")),
    (("--hippo-measure",), "hippo_measure",
     dict(choices=HIPPO_MEASURES, help="TSM-HiPPO: measure")),
    (("--hippo-order",), "hippo_order",
     dict(type=int, help="TSM-HiPPO: memory order N per cell and component")),
    (("--hippo-theta",), "hippo_theta",
     dict(type=float, help="TSM-HiPPO with legt: window in frames (0: the prefix)")),
    (("--feature-norm",), "feature_norm",
     dict(choices=FEATURE_NORMS,
          help="TSM: rms divides each feature channel by its RMS over training prefixes")),
    (("--decompose",), "decompose",
     dict(type=int, help="run the tower on the s² interleaved sub-fields at N/s (1: off)")),
    (("--loss",), "loss", dict(choices=("mse", "relative_mse"), help="training loss")),
    (("--train-trajectories",), "train_trajectories",
     dict(type=int, help="train on the first K trajectories of train.zarr only (0: all)")),
    (("--remat",), "remat",
     dict(action=argparse.BooleanOptionalAction,
          help="rematerialise each unrolled step in the backward pass: the same gradients in "
               "far less memory, about a third more compute")),
)
#: Options of ``neuralpde stagger-train`` besides :data:`LOOP_OPTIONS`.
STAGGER_OPTIONS = (
    (("--s",), "s", dict(type=int, help="spatial factor: s^2 sub-fields on (N/s)^2 (default 2)")),
    (("--s-time",), "s_time", dict(type=int, help="temporal factor s_T: fine steps per call "
                                                  "(default 1)")),
    (("--size",), "size", dict(type=int, help="fine grid N (default: the preset's model grid, "
                                              "or the store's)")),
    (("--loss",), "loss", dict(choices=("physics", "supervised", "both"),
                               help="physics-constrained (default), supervised from --data, "
                                    "or both")),
    (("--pool-size",), "pool_size", dict(type=int, help="states in the training pool")),
    (("--spinup-time",), "spinup_time",
     dict(type=float, help="pool seeds: DNS spin-up of T time units first (default 40: the "
                           "stationary regime)")),
    (("--warmup-time",), "warmup_time",
     dict(type=float, help="pool seeds: a further DNS run of U(0, T) time units each")),
    (("--weights",), "weights", dict(choices=("shared", "separate", "joint"),
                                     help="sub-solver weights")),
    (("--embedding",), "embedding", dict(choices=("learned", "onehot", "none"),
                                         help="sub-task embedding of shared weights")),
    (("--view",), "view", dict(choices=("all", "own"), help="what a sub-solver sees")),
    (("--project",), "project",
     dict(action=argparse.BooleanOptionalAction, default=None,
          help="pressure-project the rebuilt fine frames (exactly divergence-free; one global "
               "FFT solve per frame)")),
    (("--quadratic-input",), "quadratic_input",
     dict(action=argparse.BooleanOptionalAction, default=None,
          help="also feed the products u^2, uv, v^2 of every cell to the sub-solvers")),
    (("--convection",), "convection", dict(choices=("van_leer", "central"),
                                           help="convection in the residual")),
    (("--time-scheme",), "time_scheme",
     dict(choices=("forward_euler", "crank_nicolson"),
          help="time scheme of the residual (default forward_euler: the DNS's own)")),
    (("--div-weight",), "div_weight", dict(type=float, help="weight of the divergence term")),
)


def _preset_value(configs, field: str):
    """``field`` of a training config or of its model config; of several configs (a preset's
    for each kind), of the first that has it."""
    for config in configs if isinstance(configs, tuple) else (configs,):
        if hasattr(config, field):
            return getattr(config, field)
        if hasattr(config.model, field):
            return getattr(config.model, field)
    raise AttributeError(field)


def stencil_presets() -> dict:
    """Each training preset of ``neuralpde train``, as its configs for every kind it trains
    (for the help of the options: a TSM field's value is the TSM kinds')."""
    from neuralpde.training.config import TRAIN_PRESETS, get_train_preset
    from neuralpde.training.kinds import trained_by

    return {name: tuple(get_train_preset(name, kind) for kind in trained_by("train"))
            for name in TRAIN_PRESETS}


def read_by(config, given: dict) -> dict:
    """The overrides among ``given`` that ``config`` or its model has: an option of other kinds
    (TSM's for LI, TSM-HiPPO's for TSM-CNN) is accepted and ignored, as the kind reads no
    such field."""
    import dataclasses

    names = ({f.name for f in dataclasses.fields(config)}
             | {f.name for f in dataclasses.fields(config.model)})
    return {field: value for field, value in given.items() if field in names}


def unread_options(config, given: dict, options) -> str | None:
    """The options among ``given`` (field -> value, None: not given) that ``config``'s kind
    does not read, as one warning line (None when there are none), after checking their
    values against the range of the kinds that do read them.

    An option of another kind is ignored (:func:`read_by`), but a value no kind accepts
    (``--bundle 0``) raises :class:`~neuralpde.config.ConfigError` naming the field and the
    accepted range, whatever ``--model`` is.
    """
    import dataclasses

    from neuralpde.models.config import STENCIL_CONFIGS

    explicit = {field: value for field, value in given.items() if value is not None}
    ignored = {field: value for field, value in explicit.items()
               if field not in read_by(config, explicit)}
    if not ignored:
        return None
    readers = {}  # field -> the kinds that read it
    for cls in STENCIL_CONFIGS:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {field: value for field, value in ignored.items() if field in names}
        if values:
            if "hippo_theta" in values and "hippo_measure" not in values:
                values["hippo_measure"] = "legt"  # the measure with a window: theta's own range
            cls(**values)  # ConfigError: invalid <field>=<value>: accepted ...
        for field in values:
            readers.setdefault(field, []).append(cls.kind_name)
    flags = {field: names[0] for names, field, _ in options}
    groups = {}  # the kinds that read them -> the options
    for field in ignored:
        groups.setdefault(tuple(readers.get(field, ())), []).append(flags.get(field, field))
    parts = []
    for kinds, names in groups.items():
        owner = ("TSM" if len(kinds) > 1 and all(k.startswith("tsm-") for k in kinds)
                 else ", ".join(kinds) or "other commands'")
        parts.append(f"{', '.join(names)} ({owner} options)")
    return (f"--model {config.kind} does not read {', '.join(parts)}; ignored")


def add_options(parser: argparse.ArgumentParser, options, presets=None, label="preset") -> None:
    """Add ``(flags, field, kwargs)`` options whose destination is the config field.

    An option the user does not give is absent from the namespace (its value
    comes from the preset), so help shows no "(default: None)"; with
    ``presets`` (name -> config) the help lists each preset's value instead,
    unless the help text already states the default.
    """
    for flags, field, kwargs in options:
        kwargs = dict(kwargs)
        if kwargs.get("default") is None:
            kwargs["default"] = argparse.SUPPRESS
        if presets and "default" not in kwargs.get("help", ""):
            values = ", ".join(f"{name} {_preset_value(config, field)!s}"
                               for name, config in presets.items())
            kwargs["help"] = f"{kwargs.get('help', '')} ({label}: {values})"
        parser.add_argument(*flags, dest=field, **kwargs)


def overrides(args: argparse.Namespace, options) -> dict:
    """The config overrides the user gave among ``options`` (the others are None: the preset's)."""
    return {field: getattr(args, field, None) for _, field, _ in options}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows a default only where there is one (no "(default: None)")."""

    def _get_help_string(self, action):
        if action.default is None or action.required:
            return action.help
        return super()._get_help_string(action)


#: Options of ``neuralpde generate``: (flags, dest, argparse kwargs); unset ones come from
#: the preset, whose values the help lists (:func:`generate_preset_values`).
GENERATE_OPTIONS = (
    (("--samples",), "samples", dict(type=int, help="trajectories per split")),
    (("--duration",), "duration", dict(type=float, help="saved time units per trajectory")),
    (("--warmup",), "warmup", dict(type=float, help="time units integrated and discarded first")),
    (("--save-every",), "save_every", dict(type=int, help="model steps between saved frames")),
    (("--seed",), "seed", dict(type=int, help="base PRNG seed in [0, 2^31-1]; sample i of split s "
                                              "uses fold_in(fold_in(PRNGKey(seed), stream of s), "
                                              "i), so the splits never share an initial "
                                              "condition")),
    (("--history",), "history", dict(type=int, help="model-step frames kept up to t = 0 (the "
                                                    "prefix TSM encodes; 0: none)")),
    (("--model-size",), "model_size", dict(type=int, help="model grid cells per side")),
    (("--fine-size",), "fine_size", dict(type=int, help="reference DNS grid, a multiple of the "
                                                        "model grid")),
    (("--reference-solver",), "reference_solver", dict(choices=("fv", "spectral"), help=(
        "reference DNS: fv (finite volume, van Leer; the published protocol's) or spectral "
        "(pseudo-spectral, 2/3-rule dealiasing, Crank-Nicolson RK4)"))),
    (("--warmup-size",), "warmup_size", dict(type=int, help=(
        "grid of a cheaper finite-volume warm-up, refined to the reference grid --refine-time "
        "before t = 0 (0: the reference integrates the whole warm-up)"))),
    (("--refine-time",), "refine_time", dict(type=float, help=(
        "time units before t = 0 integrated on the reference grid after the coarse warm-up"))),
    (("--initial-sizes",), "initial_sizes", dict(type=int, nargs="*", help=(
        "extra grids whose first test frame is stored (coarse DNS baselines); none: give the "
        "flag alone"))),
    (("--batch-size",), "batch_size", dict(type=int, help="trajectories integrated together")),
    (("--time-chunk",), "time_chunk", dict(type=int, help="frames per zarr chunk / resumable "
                                                          "block")),
    (("--flow",), "flow", dict(choices=("kolmogorov", "decaying"), help="flow type")),
    (("--viscosity",), "viscosity", dict(type=float,
                                         help="kinematic viscosity (Re = 1/viscosity)")),
    (("--domain-size",), "domain_size", dict(type=float, help="side L of the periodic domain "
                                                              "[0, L]^2 (4π: 12.566370614359172)")),
    (("--forcing-wavenumber",), "forcing_wavenumber", dict(type=int, help="k_f of the forcing "
                                                                          "sin(k_f y)")),
    (("--linear-drag",), "linear_drag", dict(type=float, help="drag coefficient mu in -mu u")),
    (("--max-velocity",), "max_velocity", dict(type=float, help="initial max speed and CFL "
                                                                "velocity scale")),
    (("--peak-wavenumber",), "peak_wavenumber", dict(type=float, help="spectral peak of the "
                                                                      "initial condition")),
    (("--courant",), "courant", dict(type=float, help="CFL number of the model time step, in "
                                                      "(0, 1]")),
)
#: Generation presets listed in help (quickstart's data are made by `neuralpde quickstart`).
GENERATE_PRESETS = ("mini", "paper-lite", "paper")


def generate_preset_values(dest: str) -> str:
    """``'mini X, paper-lite Y, paper Z'``: the value each preset gives option ``dest``
    (per split where the splits differ: ``train/validation/test``)."""
    from neuralpde.store.presets import get_preset

    def value(preset):
        if dest in ("samples", "duration", "warmup", "save_every", "seed", "history"):
            field = "n_samples" if dest == "samples" else dest
            values = [getattr(preset.split(s), field) for s in ("train", "validation", "test")]
            return str(values[0]) if len(set(values)) == 1 else "/".join(map(str, values))
        if dest == "flow":
            return type(preset.flow).__name__.replace("Flow", "").lower()
        if dest in FLOW_OPTIONS:
            return f"{getattr(preset.flow, dest, '-'):g}" if isinstance(
                getattr(preset.flow, dest, None), float) else str(getattr(preset.flow, dest, "-"))
        found = getattr(preset, dest)
        return " ".join(map(str, found)) or "none" if isinstance(found, tuple) else str(found)

    return ", ".join(f"{name} {value(get_preset(name))}" for name in GENERATE_PRESETS)



#: A negative number argparse would otherwise read as an option (``-1e-3``, ``-2.``).
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|nan)$", re.IGNORECASE)


def joined_negative_values(argv) -> list:
    """``['--viscosity', '-1e-3']`` -> ``['--viscosity=-1e-3']``.

    argparse takes a token that starts with ``-`` and is not a plain decimal
    (``-1e-3``, ``-inf``) for an option, so ``--viscosity -1e-3`` would fail
    with "expected one argument" instead of the value's own error; joining it
    to the long option before it lets the option's check name the bad value.
    """
    joined = []
    for token in argv:
        if (joined and joined[-1].startswith("--") and "=" not in joined[-1]
                and _NEGATIVE_NUMBER.match(token)):
            joined[-1] = f"{joined[-1]}={token}"
        else:
            joined.append(token)
    return joined


#: Config fields a command's options set, when the field is not the option's name.
_FIELD_ALIASES = {"generate": {"n_samples": "--samples"}}
_FIELD_VALUE = re.compile(r"^invalid (\w+)=(\([^)]*\)|[-+\w.]+)(?=[:\s]|$)")


def with_option_name(message: str, command: str) -> str:
    """``invalid peak_lr=-1.0: ...`` -> ``invalid peak_lr=-1.0 (--lr): ...``.

    Config checks name the config field; on the command line the user typed
    the option, so the option of ``command`` that sets the field is added
    after the bad value (messages about other fields are left as they are).
    """
    tables = {"train": LOOP_OPTIONS + TRAIN_OPTIONS,
              "stagger-train": LOOP_OPTIONS + STAGGER_OPTIONS,
              "generate": GENERATE_OPTIONS}.get(command, ())
    flags = {field: names[0] for names, field, _ in tables}
    flags.update(_FIELD_ALIASES.get(command, {}))
    match = _FIELD_VALUE.match(message)
    if not match or match.group(1) not in flags:
        return message
    return f"{message[:match.end()]} ({flags[match.group(1)]}){message[match.end():]}"

