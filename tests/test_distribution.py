"""Cite it, install it, use it outside the repository (issue 22).

The licence, the citation metadata (validated against the Citation File Format 1.2.0
schema), the changelog and the README's citation note; ``replication --version`` and the
version in the manifest, the run log and the page; and the distribution itself: the wheel
and sdist build and pass ``twine check``, and a new virtual environment holding only the
wheel (its dependencies resolved by the installer from current releases, not from
requirements.lock) runs a shipped study end to end from an empty folder, and a user's own
``.sav`` through ``init``, ``run`` and ``classify``.

``tests/fixtures/cff-1.2.0.schema.json`` is the CFF 1.2.0 JSON schema
(https://citation-file-format.github.io/1.2.0/schema.json, CC-BY-4.0), as cffconvert 2.0.0
ships it; it is kept here so that the test needs no network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from replication import __version__, cli, pipeline
from replication.study.spec import load_study
from replication.version import DISTRIBUTION, describe, package_version, source_commit

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
VERSION = PYPROJECT["project"]["version"]


# --- licence, citation, changelog, README ---------------------------------------------

def test_license_is_the_mit_text_with_the_copyright_holder():
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert re.search(r"^Copyright \(c\) \d{4} \S.+$", text, re.M), "no copyright line"
    assert "Permission is hereby granted, free of charge" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    # The package metadata says the same licence, and ships the file.
    assert PYPROJECT["project"]["license"] == "MIT"
    assert "LICENSE" in PYPROJECT["project"]["license-files"]


@pytest.fixture(scope="module")
def cff_schema():
    return json.loads((FIXTURES / "cff-1.2.0.schema.json").read_text(encoding="utf-8"))


def cff_errors(document, schema) -> list[str]:
    """Every violation of the CFF schema (formats such as dates and URLs included)."""
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in validator.iter_errors(document)]


@pytest.fixture(scope="module")
def citation():
    # safe_load as GitHub and cffconvert read it: an unquoted date would become a date
    # object, which the schema (a string) rejects, so the file must quote it.
    return yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))


def test_citation_cff_validates_against_the_cff_1_2_0_schema(citation, cff_schema):
    assert citation["cff-version"] == "1.2.0"
    assert cff_errors(citation, cff_schema) == []


def test_the_schema_check_catches_a_broken_citation(citation, cff_schema):
    """The validation really fails: a missing title, a malformed DOI, an unquoted date."""
    broken = {k: v for k, v in citation.items() if k != "title"}
    assert any("'title' is a required property" in e for e in cff_errors(broken, cff_schema))
    bad_doi = json.loads(json.dumps(citation))
    bad_doi["references"][0]["doi"] = "not a doi"
    assert any(e.startswith("references/0/doi") for e in cff_errors(bad_doi, cff_schema))
    unquoted = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8")
                              .replace(f'date-released: "{citation["date-released"]}"',
                                       f'date-released: {citation["date-released"]}'))
    assert any(e.startswith("date-released") for e in cff_errors(unquoted, cff_schema))


def test_citation_names_this_version_and_the_two_replicated_sources(citation):
    assert citation["type"] == "software"
    assert str(citation["version"]) == VERSION
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", citation["date-released"])
    assert citation["license"] == "MIT"
    refs = {r["title"]: r for r in citation["references"]}
    # The references are the sources the shipped studies cite (their YAML is the record).
    golovacheva = load_study("golovacheva2022").study
    forrester = load_study("forrester2016").study
    article = refs["Treating customers as individuals in online retail"]
    assert article["doi"] == golovacheva.doi == "10.21638/spbu18.2022.204"
    assert article["year"] == golovacheva.year == 2022
    assert article["journal"] == "Russian Management Journal"
    assert (str(article["volume"]), str(article["issue"])) == ("20", "2")
    assert [a["family-names"] for a in article["authors"]] == ["Golovacheva", "Gogua", "Smirnova", "Alkanova"]
    report = refs["The Rise Of The Empowered Customer"]
    assert report["title"] in forrester.citation
    assert (report["year"], report["month"]) == (forrester.year, 7) == (2016, 7)
    assert report["authors"][0]["family-names"] == "Lai"
    assert report["institution"]["name"] == "Forrester Research"


def test_changelog_describes_the_current_version():
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (\S+) — (\d{4}-\d{2}-\d{2})$", text, re.M)
    assert headings, "CHANGELOG.md has no '## <version> — <date>' heading"
    assert headings[0][0] == VERSION, "the newest CHANGELOG entry is not pyproject.toml's version"


def test_readme_first_screen_says_how_to_cite():
    first_screen = "\n".join((REPO / "README.md").read_text(encoding="utf-8").splitlines()[:30])
    assert "How to cite" in first_screen
    assert "CITATION.cff" in first_screen
    assert DISTRIBUTION in first_screen


# --- the version --------------------------------------------------------------------------

def test_the_version_is_pyproject_tomls():
    assert PYPROJECT["project"]["name"] == DISTRIBUTION == "segmentation-replication"
    assert __version__ == package_version() == VERSION
    # Run from this checkout, the commit is git's short hash, shown beside the version.
    commit = source_commit()
    if commit is not None:
        assert re.fullmatch(r"[0-9a-f]{4,40}", commit)
        assert describe() == f"{VERSION} (git {commit})"
    else:
        assert describe() == VERSION


def test_cli_version_prints_the_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"replication {describe()}\n"


def test_version_in_the_manifest_commit_only_in_the_run_log_and_page(tmp_path):
    """The manifest (committed; what `verify` trusts) records the version, never the commit,
    which changes with every commit; the run log and the page's provenance give both."""
    spec = load_study(FIXTURES / "four_segments.yaml")
    pipeline.run_study(spec, tmp_path, notebooks=False, log=lambda *a: None)
    layout = pipeline.layout_for(spec, tmp_path)
    manifest = json.loads(layout.manifest.read_text(encoding="utf-8"))
    assert manifest["package"] == {"name": DISTRIBUTION, "version": VERSION}
    run_log = json.loads(layout.run_log.read_text(encoding="utf-8"))
    assert run_log["package_version"] == VERSION
    commit = source_commit()
    if commit:
        assert run_log["package_commit"] == commit
        assert commit not in layout.manifest.read_text(encoding="utf-8")
    page = layout.page.read_text(encoding="utf-8")
    provenance = page[page.index("<h2 id='provenance'>"):]
    assert f"<code>{DISTRIBUTION}</code> version {describe()}" in provenance


def test_committed_manifests_record_the_package_version():
    for path in sorted((REPO / "reports").glob("*/manifest.json")):
        manifest = json.loads(path.read_text(encoding="utf-8"))
        assert manifest["package"] == {"name": DISTRIBUTION, "version": VERSION}, (
            f"{path}: regenerate the reference outputs after a version change (make run NOTEBOOKS=0)")


# --- the wheel and the sdist, outside the repository -------------------------------------

def _run(argv, cwd, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="session")
def dist(tmp_path_factory):
    """The sdist and the wheel, built once by ``python -m build`` (the wheel from the sdist,
    so that a file the sdist forgets is missing from the wheel too).

    ``--no-isolation`` builds with this environment's pinned setuptools instead of
    downloading the newest into a fresh one: quicker, and the same bytes every time.
    """
    out = tmp_path_factory.mktemp("dist")
    _ok(_run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, REPO], cwd=REPO))
    wheel, = out.glob("*.whl")
    sdist, = out.glob("*.tar.gz")
    return wheel, sdist


@pytest.mark.slow
def test_wheel_and_sdist_carry_what_run_needs_and_pass_twine_check(dist):
    wheel, sdist = dist
    stem = f"{DISTRIBUTION.replace('-', '_')}-{VERSION}"
    assert wheel.name == f"{stem}-py3-none-any.whl" and sdist.name == f"{stem}.tar.gz"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(f"{stem}.dist-info/METADATA").decode()
    source = REPO / "src"
    shipped = {p.relative_to(source).as_posix() for p in source.rglob("*")
               if p.suffix in (".py", ".yaml") and "__pycache__" not in p.parts}
    assert shipped <= names, f"missing from the wheel: {sorted(shipped - names)}"
    notebooks = {f"replication/notebooks/{p.name}" for p in (REPO / "notebooks").glob("*.ipynb")}
    assert notebooks and notebooks <= names, f"notebooks missing from the wheel: {sorted(notebooks - names)}"
    assert f"{stem}.dist-info/licenses/LICENSE" in names
    assert f"Name: {DISTRIBUTION}\n" in metadata and f"Version: {VERSION}\n" in metadata
    assert "License-Expression: MIT" in metadata
    assert "Provides-Extra: notebooks" in metadata
    with tarfile.open(sdist) as t:
        members = {m.split("/", 1)[1] for m in t.getnames() if "/" in m}
    for needed in ("LICENSE", "CITATION.cff", "CHANGELOG.md", "README.md", "pyproject.toml", "setup.py",
                   *(f"notebooks/{Path(n).name}" for n in notebooks), *(f"src/{s}" for s in shipped)):
        assert needed in members, f"{needed} missing from the sdist"
    _ok(_run([sys.executable, "-m", "twine", "check", "--strict", wheel, sdist], cwd=wheel.parent))


@pytest.fixture(scope="session")
def wheel_env(dist, tmp_path_factory):
    """A new virtual environment holding only the wheel; the installer resolves its
    dependencies from current releases (uv, which the Makefile installs beside .venv, when
    it is there: seconds instead of minutes; pip otherwise).

    Returns
    -------
    tuple of (Path, dict)
        The environment's bin folder, and the environment variables to run it with.
    """
    wheel, _ = dist
    venv = tmp_path_factory.mktemp("wheel-env") / "venv"
    _ok(_run([sys.executable, "-m", "venv", venv], cwd=venv.parent))
    python = venv / "bin" / "python"
    uv = REPO / ".venv" / ".uv" / "bin" / "uv"
    if uv.exists():
        _ok(_run([uv, "pip", "install", "--quiet", "--python", python, wheel], cwd=venv.parent))
    else:
        _ok(_run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel],
                 cwd=venv.parent, timeout=1800))
    # Nothing of the repository may leak in: no PYTHONPATH, no active environment.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return venv / "bin", env


@pytest.fixture
def empty(tmp_path):
    """An empty working folder and an empty project folder (the --root the user names)."""
    cwd, root = tmp_path / "cwd", tmp_path / "project"
    cwd.mkdir()
    root.mkdir()
    return cwd, root


@pytest.mark.slow
def test_the_installed_wheel_is_the_package_and_prints_its_version(wheel_env, empty):
    bin_, env = wheel_env
    cwd, _ = empty
    where = _ok(_run([bin_ / "python", "-c", "import replication; print(replication.__file__)"], cwd, env))
    assert Path(where.stdout.strip()).is_relative_to(bin_.parent), "imported something other than the wheel"
    # An installed wheel has no commit: the version alone.
    assert _ok(_run([bin_ / "replication", "--version"], cwd, env)).stdout == f"replication {VERSION}\n"
    # The notebooks come with it, found without the repository.
    nb = _ok(_run([bin_ / "python", "-c", "from replication.report.notebooks import notebook_dir; "
                   "print(notebook_dir(None))"], cwd, env)).stdout.strip()
    assert Path(nb).is_relative_to(bin_.parent)
    assert sorted(p.name for p in Path(nb).glob("*.ipynb")) == sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
def test_wheel_runs_the_shipped_study_from_an_empty_folder(wheel_env, empty):
    bin_, env = wheel_env
    cwd, root = empty
    proc = _ok(_run([bin_ / "replication", "run", "--study", "golovacheva2022", "--root", root, "--no-notebooks"],
                    cwd, env))
    summary = re.search(r"golovacheva2022: N = 586; (\d+) claims: (\d+) PASS;", proc.stdout)
    assert summary and summary.group(1) == summary.group(2), proc.stdout
    layout = pipeline.layout_for(load_study("golovacheva2022"), root)
    card = layout.tables / "scorecard.csv"
    import pandas as pd
    scorecard = pd.read_csv(card)
    assert len(scorecard) == int(summary.group(1)) and scorecard["passed"].all()
    assert layout.page.exists() and (root / "reports" / "index.html").exists()
    assert json.loads(layout.manifest.read_text())["package"] == {"name": DISTRIBUTION, "version": VERSION}
    # The same data and tables as the committed reference run: pip's newer dependencies
    # (where there are any) changed nothing the reference records.
    reference = json.loads((REPO / "reports" / "golovacheva2022" / "manifest.json").read_text())
    assert json.loads(layout.manifest.read_text())["inputs"] == reference["inputs"]
    assert not any(cwd.iterdir()), f"wrote into the working folder: {list(cwd.iterdir())}"
    # Executing the notebooks needs the notebooks extra: one clear message, nothing written.
    other = root.parent / "other"
    other.mkdir()
    proc = _run([bin_ / "replication", "run", "--study", "golovacheva2022", "--root", other], cwd, env)
    assert proc.returncode == 2 and "--no-notebooks" in proc.stderr and "[notebooks]" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not any(other.iterdir())


@pytest.mark.slow
def test_wheel_runs_a_users_sav_through_init_run_and_classify(wheel_env, empty):
    bin_, env = wheel_env
    cwd, root = empty
    rep = bin_ / "replication"
    _ok(_run([rep, "demo", "survey"], cwd, env))
    sav, study = cwd / "survey" / "demo_survey.sav", cwd / "survey" / "demo_study.yaml"
    assert sav.exists() and study.exists()
    # init: the commented template beside the file, to be filled in (the demo's YAML is
    # what a user writes from it).
    proc = _ok(_run([rep, "init", sav, "--template"], cwd, env))
    template = (cwd / "survey" / "demo_survey.yaml").read_text(encoding="utf-8")
    assert "TODO" in template and "demo_survey.sav" in template and "wrote" in proc.stdout
    proc = _ok(_run([rep, "run", "--study", study, "--root", root, "--no-notebooks"], cwd, env))
    spec_id = yaml.safe_load(study.read_text(encoding="utf-8"))["study"]["id"]
    assert re.search(rf"{spec_id}: N = \d+;", proc.stdout), proc.stdout
    processed = root / "data" / "processed" / spec_id
    for name in ("assignments.csv", "assignments.sav", "model_card.json"):
        assert (processed / name).exists(), name
    assert (root / "reports" / spec_id / "index.html").exists()
    out = cwd / "segments.csv"
    _ok(_run([rep, "classify", processed / "model_card.json", sav, "--output", out], cwd, env))
    assert out.exists()
    assert sorted(p.name for p in cwd.iterdir()) == ["segments.csv", "survey"]
