"""What made an output: ``neuralpde --version`` and the version, git commit and machine recorded
in every results folder, run folder and store (:func:`neuralpde.provenance`)."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import neuralpde
from neuralpde import describe_checkout, machine, provenance, version_line
from neuralpde.cli import main

REPO = Path(__file__).resolve().parents[1]
COMMIT = r"[0-9a-f]{7,40}(\+dirty)?"
MACHINE = r".+ \((\d+ cores?|cores unknown), .+\)"
HAS_GIT = shutil.which("git") is not None
IN_CHECKOUT = HAS_GIT and (REPO / ".git").exists() and \
    Path(neuralpde.__file__).resolve().parent == REPO / "neuralpde"
needs_git = pytest.mark.skipif(not HAS_GIT, reason="git is not installed")


@pytest.fixture
def outside_checkout(monkeypatch, tmp_path):
    """The package as if installed from a wheel: its source folder's parent is no checkout."""
    monkeypatch.setattr(neuralpde, "_checkout", lambda: tmp_path)
    neuralpde.git_commit.cache_clear()
    yield tmp_path
    neuralpde.git_commit.cache_clear()


def _git(root, *args):
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A fresh git repository with one commit of one tracked file."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "a.txt").write_text("a\n")
    _git(root, "add", "a.txt")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false",
         "commit", "-q", "-m", "one")
    return root


@pytest.mark.skipif(not IN_CHECKOUT, reason="the package does not run from a git checkout")
def test_version_in_a_checkout_names_the_commit(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    printed = capsys.readouterr().out.strip()
    assert re.fullmatch(rf"neuralpde {re.escape(neuralpde.__version__)} \(git {COMMIT}\)", printed)
    head = _git(REPO, "rev-parse", "HEAD")
    commit = provenance()["neuralpde_git_commit"]
    assert head.startswith(commit.removesuffix("+dirty"))
    assert printed == version_line()


def test_version_outside_a_checkout_is_the_version_alone(outside_checkout, capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == f"neuralpde {neuralpde.__version__}\n"
    assert provenance() == {"neuralpde_version": neuralpde.__version__,
                            "neuralpde_git_commit": "", "machine": machine()}


@needs_git
def test_a_checkout_is_described_by_its_commit_and_tracked_changes(repo):
    head = _git(repo, "rev-parse", "HEAD")
    clean = describe_checkout(repo)
    assert re.fullmatch(r"[0-9a-f]{7,40}", clean) and head.startswith(clean)
    (repo / "new.txt").write_text("untracked files do not make it dirty\n")
    assert describe_checkout(repo) == clean
    (repo / "a.txt").write_text("changed\n")
    assert describe_checkout(repo) == clean + "+dirty"


@needs_git
def test_only_the_checkout_root_counts(repo, tmp_path):
    """A wheel installed into a venv that lies inside some repository is not that checkout."""
    inner = repo / "venv" / "lib" / "site-packages"
    inner.mkdir(parents=True)
    assert describe_checkout(inner) == ""
    assert describe_checkout(tmp_path) == ""  # not a checkout at all
    assert describe_checkout(tmp_path / "missing") == ""


def test_git_failures_are_silent(repo, tmp_path, monkeypatch):
    broken = tmp_path / "broken"
    (broken / ".git").mkdir(parents=True)  # a damaged repository
    assert describe_checkout(broken) == ""
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no git installed
    assert describe_checkout(repo) == ""


def test_git_is_not_asked_at_import():
    """Importing the package and building the command line run no git (it is asked on use)."""
    code = ("import neuralpde, neuralpde.cli; neuralpde.cli.build_parser(); "
            "print(neuralpde.git_commit.cache_info().misses)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "0"


def test_the_machine_is_named_in_words_and_never_raises(monkeypatch):
    import os
    import platform

    described = machine()
    assert re.fullmatch(MACHINE, described) and platform.system() in described
    assert machine() is described  # asked once per process
    assert f"({os.cpu_count()} core" in described
    if Path("/proc/cpuinfo").is_file():
        names = [line.split(":", 1)[1].strip() for line in
                 Path("/proc/cpuinfo").read_text(errors="replace").splitlines()
                 if line.split(":")[0].strip() == "model name"]
        assert not names or described.startswith(" ".join(names[0].split()))

    def unreadable(*args, **kwargs):
        raise OSError("no /proc here")

    try:  # no /proc/cpuinfo and platform says nothing: still a description
        machine.cache_clear()
        monkeypatch.setattr("builtins.open", unreadable)
        monkeypatch.setattr(platform, "processor", lambda: "")
        monkeypatch.setattr(platform, "machine", lambda: "")
        monkeypatch.setattr(os, "cpu_count", lambda: None)
        assert machine() == f"unknown CPU (cores unknown, {platform.system()})"
        machine.cache_clear()
        monkeypatch.setattr(platform, "system", lambda: 1 / 0)  # anything at all going wrong
        assert machine() == "unknown machine"
    finally:
        monkeypatch.undo()
        machine.cache_clear()
    assert machine() == described


def test_run_records_and_store_attrs_carry_the_provenance(tiny):
    from neuralpde.store.plan import plan_split, store_attrs
    from neuralpde.training.config import TrainConfig
    from neuralpde.training.runs import make_record

    record = make_record(TrainConfig(), {})
    attrs = store_attrs(tiny, "test", plan_split(tiny, "test"))
    for written in (record, attrs):
        assert written["neuralpde_version"] == neuralpde.__version__
        assert written["neuralpde_git_commit"] == provenance()["neuralpde_git_commit"]
        assert re.fullmatch(COMMIT, written["neuralpde_git_commit"]) or \
            written["neuralpde_git_commit"] == ""
        assert written["machine"] == machine() and re.fullmatch(MACHINE, written["machine"])
    assert record["device"].startswith("cpu: ")  # JAX's devices, as in summary.json


def test_a_run_or_store_resumed_on_another_machine_is_the_same_one(tiny_data, tmp_path):
    """The machine (and commit, devices) of the first start is kept, never compared."""
    from neuralpde.store import schema
    from neuralpde.store.generate import _reusable
    from neuralpde.training.config import TrainConfig
    from neuralpde.training.runs import check_same_run, make_record

    record = make_record(TrainConfig(), {"flow": {"kind": "KolmogorovFlow"}, "model_size": 8,
                                         "preset": "mini", "generation_key": "{}"})
    elsewhere = {**record, "machine": "Some Other CPU (64 cores, Linux aarch64)",
                 "device": "gpu: NVIDIA H100 80GB HBM3 x1", "neuralpde_git_commit": "abcdef0"}
    check_same_run(tmp_path, elsewhere, record)  # no error: the same run
    store = Path(tiny_data) / "train.zarr"  # read, not written
    attrs = schema.read_attrs(store)
    assert _reusable(store, {**attrs, "machine": "Some Other CPU (64 cores, Linux aarch64)"})


def test_summaries_carry_the_provenance_and_old_ones_still_load(tiny_data, tmp_path):
    from neuralpde.evaluation.compare import load_results
    from neuralpde.evaluation.results import read_summary

    out = tmp_path / "results"
    argv = ["evaluate", "--data", str(tiny_data), "--out", str(out), "--horizon", "0.2",
            "--solver", "dns"]
    assert main(argv) == 0
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    summary = read_summary(folder)
    assert {k: summary[k] for k in provenance()} == provenance()

    # a summary written before the keys existed is tabled, and replaced by a new evaluation
    old = {k: v for k, v in summary.items() if k not in provenance()}
    (folder / "summary.json").write_text(json.dumps(old, indent=2) + "\n")
    (row,) = load_results(out)
    assert "neuralpde_git_commit" not in row and row["solver"] == summary["solver"]
    assert main(argv) == 0
    assert read_summary(folder)["neuralpde_git_commit"] == provenance()["neuralpde_git_commit"]


#: CITATION.cff (CFF 1.2.0, https://citation-file-format.github.io/1.2.0/schema): the keys
#: its schema allows at the top and in a reference (both `additionalProperties: false`).
CFF_KEYS = {"abstract", "authors", "cff-version", "commit", "contact", "date-released", "doi",
            "identifiers", "keywords", "license", "license-url", "message", "preferred-citation",
            "references", "repository", "repository-artifact", "repository-code", "title", "type",
            "url", "version"}
CFF_REFERENCE_KEYS = {
    "abbreviation", "abstract", "authors", "collection-doi", "collection-title",
    "collection-type", "commit", "conference", "contact", "copyright", "data-type", "database",
    "database-provider", "date-accessed", "date-downloaded", "date-published", "date-released",
    "department", "doi", "edition", "editors", "editors-series", "end", "entry", "filename",
    "format", "identifiers", "institution", "isbn", "issn", "issue", "issue-date", "issue-title",
    "journal", "keywords", "languages", "license", "license-url", "loc-end", "loc-start",
    "location", "medium", "month", "nihmsid", "notes", "number", "number-volumes", "pages",
    "patent-states", "pmcid", "publisher", "recipients", "repository", "repository-artifact",
    "repository-code", "scope", "section", "senders", "start", "status", "term", "thesis-type",
    "title", "translators", "type", "url", "version", "volume", "volume-title", "year",
    "year-original"}
CFF_PERSON_KEYS = {"family-names", "given-names", "name-particle", "name-suffix", "affiliation",
                   "email", "orcid", "website", "alias"}
CFF_DOI = r"10\.\d{4,9}(\.\d+)?/[A-Za-z0-9:/_;\-\.\(\)\[\]\\]+"


def test_the_citation_file_is_cff_1_2_0_of_this_version():
    yaml = pytest.importorskip("yaml")
    import tomllib

    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert cff["cff-version"] == "1.2.0" and set(cff) <= CFF_KEYS
    assert {"authors", "message", "title"} <= set(cff)
    assert str(cff["version"]) == version == neuralpde.__version__
    assert cff["license"] == "Apache-2.0" and cff["type"] == "software"
    titles = []
    for ref in cff["references"]:
        assert {"type", "title", "authors"} <= set(ref) <= CFF_REFERENCE_KEYS, ref["title"]
        for author in ref["authors"]:
            assert set(author) <= CFF_PERSON_KEYS or set(author) == {"name"}, author
        for key in ("year", "volume", "start", "end"):
            assert key not in ref or isinstance(ref[key], int), (ref["title"], key)
        for doi in [ref.get("doi")] + [i["value"] for i in ref.get("identifiers", [])
                                       if i["type"] == "doi"]:
            assert doi is None or re.fullmatch(CFF_DOI, doi), doi
        for url in [ref.get("url"), ref.get("repository-code")]:
            assert url is None or url.startswith("https://"), url
        titles.append(ref["title"])
    # the works every method and baseline comes from (README, "Cite")
    for words in ("computational fluid dynamics", "Temporal Stencil", "NeuralStagger", "JAX-CFD",
                  "HiPPO", "Weighted ENO", "improved weighted", "spectral methods",
                  "Weak baselines"):
        assert any(words in title for title in titles), words
