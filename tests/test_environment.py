"""The three environment files pin the same packages at the same versions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
IGNORED = {"python", "pip"}


def norm(name: str) -> str:
    """Normalised package name: case-insensitive, '_' and '.' equal to '-' (so PyYAML == pyyaml)."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def parse_pins(path: Path) -> dict[str, str]:
    """``name==version`` lines (comments and blank lines skipped); any other line fails."""
    pins = {}
    for i, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)", line)
        assert m, f"{path.name}, line {i}: not a 'name==version' pin: {raw!r}"
        name = norm(m.group(1))
        assert name not in pins, f"{path.name}, line {i}: {name} pinned twice"
        pins[name] = m.group(2)
    return pins


def parse_conda(path: Path) -> dict[str, str]:
    """Conda ``name=version`` entries of environment.yml, and the ``name==version`` pins of
    its pip: sub-list (a package conda-forge names differently, such as PyPA's build, is
    installed by pip under its PyPI name); other pip entries (``-e .``) are skipped."""
    env = yaml.safe_load(path.read_text(encoding="utf-8"))
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # {"pip": [...]}
            assert set(dep) == {"pip"}, dep
            for entry in dep["pip"]:
                m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*(\S+)", str(entry).strip())
                if m:
                    name = norm(m.group(1))
                    assert name not in pins, f"environment.yml: {name} listed twice"
                    pins[name] = m.group(2)
            continue
        name, _, version = str(dep).partition("=")
        name = norm(name)
        if name in IGNORED:
            continue
        assert version and not version.startswith("="), f"environment.yml: {dep!r} is not 'name=version'"
        assert name not in pins, f"environment.yml: {name} listed twice"
        pins[name] = version
    return pins


@pytest.fixture(scope="module")
def requirements_in():
    return parse_pins(ROOT / "requirements.in")


@pytest.fixture(scope="module")
def requirements_lock():
    return parse_pins(ROOT / "requirements.lock")


@pytest.fixture(scope="module")
def environment_yml():
    return parse_conda(ROOT / "environment.yml")


def test_name_normalisation():
    assert norm("PyYAML") == norm("pyyaml") == "pyyaml"
    assert norm("typing_extensions") == norm("typing-extensions")
    assert norm("scikit_learn") == "scikit-learn"


def test_requirements_in_has_the_core_pins(requirements_in):
    for name in ("numpy", "pandas", "scipy", "pyyaml", "pydantic", "pytest", "hypothesis"):
        assert name in requirements_in, name
    assert all(re.fullmatch(r"\d+(\.\d+)*", v) for v in requirements_in.values()), requirements_in


def test_environment_yml_matches_requirements_in(requirements_in, environment_yml):
    only_in = sorted(set(requirements_in) - set(environment_yml))
    only_env = sorted(set(environment_yml) - set(requirements_in))
    assert not only_in, f"in requirements.in but not environment.yml: {only_in}"
    assert not only_env, f"in environment.yml but not requirements.in: {only_env}"
    differ = {n: (requirements_in[n], environment_yml[n]) for n in requirements_in
              if requirements_in[n] != environment_yml[n]}
    assert not differ, f"versions differ (requirements.in, environment.yml): {differ}"


def test_lock_pins_every_direct_dependency_identically(requirements_in, requirements_lock):
    missing = sorted(set(requirements_in) - set(requirements_lock))
    assert not missing, f"in requirements.in but not requirements.lock: {missing}"
    differ = {n: (v, requirements_lock[n]) for n, v in requirements_in.items() if requirements_lock[n] != v}
    assert not differ, f"versions differ (requirements.in, requirements.lock): {differ}"
    assert len(requirements_lock) > len(requirements_in)  # the lock also pins what they pull in


def test_environment_yml_pins_python_and_installs_the_package():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    deps = env["dependencies"]
    assert any(str(d).startswith("python=3.11") for d in deps)
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "-e ." in pip


def test_parsers_catch_drift(tmp_path):
    """The comparison really fails when a version drifts or a package is missing."""
    (tmp_path / "requirements.in").write_text("numpy==2.0.0\nPyYAML==6.0\n")
    (tmp_path / "environment.yml").write_text(
        "dependencies:\n  - python=3.11\n  - pip\n  - numpy=2.0.1\n  - pip:\n      - build==1.0\n      - -e .\n")
    pins = parse_pins(tmp_path / "requirements.in")
    conda = parse_conda(tmp_path / "environment.yml")
    assert pins == {"numpy": "2.0.0", "pyyaml": "6.0"}
    assert conda == {"numpy": "2.0.1", "build": "1.0"}
    conda.pop("build")
    with pytest.raises(AssertionError, match="pyyaml"):
        test_environment_yml_matches_requirements_in(pins, conda)
    with pytest.raises(AssertionError, match="versions differ"):
        test_environment_yml_matches_requirements_in({"numpy": "2.0.0"}, conda)
