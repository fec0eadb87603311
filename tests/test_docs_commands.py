"""Every command and example in README.md and docs/ works as written, run at a tiny size.

The test reads the fenced blocks of the documents (nothing is copied here, so a
renamed option or function breaks it):

* every ``neuralpde ...`` line of a shell block (README, docs, experiments and
  benchmarks READMEs) must parse with the CLI's own parser;
* then, in one scratch folder and in document order, every ``neuralpde`` command is
  run in-process with the tiny-size options of ``TINY`` appended (later options win
  in argparse, so the documented values are overridden, not removed; a
  ``pretrained:`` solver also gets ``--transfer``: the shipped weights are for
  32², the tiny store is 8²), the same command once; every Python block is executed
  with the data and training presets shrunk to the tiny size; a block after an HTML
  comment ``<!-- fragment -->`` (an interface sketch, a line that needs the reader's
  own class) is compiled and only its imports run.

What cannot run at a tiny size is named in ``NOT_RUN`` with the test that covers it.
"""

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "docs/guide.md", "docs/store.md", "docs/training.md", "docs/tsm.md",
        "docs/stagger.md", "docs/solvers.md", "docs/scaling.md"]
PARSED_ONLY = ["experiments/README.md", "benchmarks/README.md"]

# appended to each documented command (the data: an 8² model grid from a 32² DNS, with
# 16² and 32² initial states for the coarse-DNS baselines; training: 2 updates of a 1 × 4 tower)
TINY = {
    "generate": "--model-size 8 --fine-size 32 --initial-sizes 16 32 --samples 2 --duration 0.6 "
                "--warmup 0.3 --history 4 --batch-size 2 --time-chunk 4 --no-progress",
    "train": "--steps 2 --batch-size 2 --hidden 4 --depth 1 --unroll 1 --checkpoint-every 2 "
             "--validate-every 2 --validation-samples 1 --validation-horizon 0.2 --no-progress",
    "stagger-train": "--size 8 --steps 2 --batch-size 2 --pool-size 2 --hidden 4 --depth 1 "
                     "--spinup-time 0.2 --warmup-time 0 --validation-samples 1 "
                     "--validation-horizon 0.2 --no-progress",
    "evaluate": "--samples 1",
}
TSM_TINY = "--prefix 4 --bundle 1 --hippo-order 4"
# solver names for grids a tiny store holds (its model grid is 8², not 32²)
SUBSTITUTES = {"dns-64": "dns-16", "dns-128": "dns-32", "spectral-48": "spectral-16",
               "spectral-64": "spectral-24"}
# ... and in the Python examples, which state their budgets in arguments
PY_SUBSTITUTES = {"steps=50": "steps=2", "duration=3.0": "duration=0.6",
                  "horizon=2.0": "horizon=0.4"}
NOT_RUN = {"quickstart": "its job runs at a tiny size in tests/test_quickstart.py"}


def fenced_blocks(path):
    """``(language, first line number, text, is_fragment)`` of each fenced block."""
    lines = (REPO / path).read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = re.match(r"^```(\w*)\s*$", lines[i])
        if not match:
            i += 1
            continue
        fragment = i > 0 and lines[i - 1].strip() == "<!-- fragment -->"
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        blocks.append((match.group(1), i + 2, "\n".join(lines[i + 1:end]), fragment))
        i = end + 1
    return blocks


def shell_commands(text):
    """The commands of a shell block: continuation lines joined, comments dropped, ``&&`` split."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        # as bash: a comment starts with a '#' at the start of a word only (shlex would also
        # cut run:<folder>#coarse)
        words = shlex.split(re.sub(r"(^|\s)#.*$", r"\1", line))
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            commands.append(words[:cut])
            words = words[cut + 1:]
    return commands


def documented(paths, language=("bash", "sh", "")):
    for path in paths:
        for lang, line, text, _fragment in fenced_blocks(path):
            if lang in language:
                for words in shell_commands(text):
                    yield f"{path}:{line}", words


def test_the_documents_hold_commands_and_examples():
    neuralpde = [words for _, words in documented(DOCS) if words[0] == "neuralpde"]
    assert {w[1] for w in neuralpde} >= {"quickstart", "generate", "evaluate", "train",
                                        "stagger-train", "compare", "export", "import"}
    python = [b for path in DOCS for b in fenced_blocks(path) if b[0] == "python"]
    assert len(python) >= 8 and sum(not b[3] for b in python) >= 5


def test_every_documented_command_parses():
    from neuralpde.cli import build_parser

    parser = build_parser()
    for where, words in documented(DOCS + PARSED_ONLY):
        if words[0] == "neuralpde":
            try:
                parser.parse_args(words[1:])
            except SystemExit as exc:  # argparse already printed why
                pytest.fail(f"{where}: {shlex.join(words)} does not parse (exit {exc.code})")


def _tiny_argv(words):
    argv = [SUBSTITUTES.get(w, w) for w in words[1:]]
    argv = [("run:" + SUBSTITUTES.get(w[4:], w[4:])) if w.startswith("run:") else w for w in argv]
    extra = TINY.get(argv[0], "")
    if any(w.startswith("pretrained:") for w in argv):  # the shipped 32² weights on the 8² store
        extra += " --transfer"
    if argv[0] == "train" and "tsm" in argv[argv.index("--model") + 1]:
        extra += " " + TSM_TINY
    return argv + shlex.split(extra)


class _Tensor:
    """What ``pred_u`` is in docs/solvers.md's PyTorch example: ``.detach().cpu().numpy()``."""

    def __init__(self, array):
        self.array = array

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return np.asarray(self.array)


def _namespace():
    """Names the examples take from the reader: predicted u, v (a perfect model)."""
    from neuralpde.store import open_store

    names = {}
    if Path("data/mini/test.zarr").exists():
        test = open_store("data/mini/test.zarr")
        names.update(u=test.u.values, v=test.v.values, pred_u=_Tensor(test.u.values),
                     pred_v=_Tensor(test.v.values))
    return names


def _shrink_presets(monkeypatch):
    """Examples ask for the named presets; they get them at the tiny size (as the CLI runs do)."""
    from conftest import tiny_preset
    from neuralpde.config import with_fields
    from neuralpde.store import presets
    from neuralpde.training import config as train_config

    real_train = train_config.get_train_preset

    tiny = tiny_preset(n_samples=2, initial_sizes=(16, 32))

    def data_preset(name="mini"):
        return tiny

    def train_preset(name="mini", kind="li"):
        from neuralpde.cli import read_by

        config = real_train(name, kind)
        tiny = dict(steps=2, batch_size=2, hidden=4, depth=1, unroll=1, prefix=4, bundle=1,
                    hippo_order=4, checkpoint_every=2, validate_every=2, validation_samples=1,
                    validation_horizon=0.2)
        return with_fields(config, **read_by(config, tiny))  # the fields of its kind

    monkeypatch.setattr(presets, "get_preset", data_preset)
    monkeypatch.setattr(train_config, "get_train_preset", train_preset)


def _run_python(code, where, fragment, monkeypatch):
    for old, new in SUBSTITUTES.items():
        code = code.replace(f'"{old}"', f'"{new}"')
    for old, new in PY_SUBSTITUTES.items():
        code = code.replace(old, new)
    compiled = compile(code, where, "exec")
    if fragment:
        imports = "\n".join(row for row in code.splitlines()
                            if row.startswith(("from ", "import ")))
        exec(compile(imports, where, "exec"), {})
        return
    names = _namespace()
    with monkeypatch.context() as patch:
        _shrink_presets(patch)
        exec(compiled, names)


@pytest.mark.slow
def test_every_documented_command_and_example_runs_at_a_tiny_size(tmp_path, monkeypatch, capsys):
    from neuralpde.cli import main

    monkeypatch.chdir(tmp_path)
    done = set()
    for path in DOCS:
        for lang, line, text, fragment in fenced_blocks(path):
            where = f"{path}:{line}"
            if lang == "python":
                _run_python(text, where, fragment, monkeypatch)
                continue
            if lang not in ("bash", "sh", ""):
                continue
            for words in shell_commands(text):
                if words[:2] == ["python", "-c"]:
                    _run_python(words[2], where, fragment, monkeypatch)
                elif words[0] == "neuralpde" and words[1] not in NOT_RUN:
                    argv = _tiny_argv(words)
                    if tuple(argv) in done:
                        continue
                    if argv[0] == "import":  # a jax-cfd-layout reference set to import
                        from neuralpde.store import open_store
                        from test_external import _jax_cfd_layout

                        _jax_cfd_layout(open_store("data/mini/test.zarr")).to_netcdf(argv[1])
                    status = main(argv)
                    err = capsys.readouterr().err
                    assert status == 0, f"{where}: neuralpde {shlex.join(argv)} -> {status}\n{err}"
                    done.add(tuple(argv))
        # what the commands promise to leave behind
    assert {p.name for p in Path("data/mini").glob("*.zarr")} == {"train.zarr", "validation.zarr",
                                                                    "test.zarr"}
    assert (Path("results/mini") / "comparison.md").exists() and Path("test.nc").exists()
    assert {"li", "tsm-hippo", "tsm-cnn", "fno", "dns-16", "weno5-z-8", "pretrained-li-mini"} <= {
        p.name for p in Path("results/mini").iterdir()}
    assert Path("data/ref/test.zarr").exists() and Path("results/stagger/comparison.md").exists()
    assert len(done) >= 15, sorted(done)
