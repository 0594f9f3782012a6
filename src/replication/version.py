"""The package's version, and the git commit of its source checkout where there is one.

The version is the installed distribution's (``segmentation-replication``, read with
:mod:`importlib.metadata`), so that it is written in one place only, ``pyproject.toml``.
Run from a source tree that is not installed, it is read from that ``pyproject.toml``.

The commit is that of the checkout the package's code comes from; an installed wheel has
none. It is volatile (every commit changes it), so it goes where nothing is compared byte
for byte: ``replication --version``, the run log ``reports/<study>/.run.json`` and the
study page, never the manifest that ``replication verify`` checks.
"""

from __future__ import annotations

import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

#: The distribution's name on PyPI (the import name and the command stay ``replication``).
DISTRIBUTION = "segmentation-replication"

#: ``src/replication`` -> the checkout's root, when the package runs from a source tree.
_CHECKOUT = Path(__file__).resolve().parents[2]


def _is_source_checkout() -> bool:
    # Only a src/ layout beside a pyproject.toml counts: an installed package lives in
    # site-packages, which may itself sit inside someone else's git repository (a venv in
    # a project folder), whose commit says nothing about this package's code.
    here = Path(__file__).resolve().parent
    return here.parent.name == "src" and (_CHECKOUT / "pyproject.toml").is_file()


@lru_cache(maxsize=1)
def package_version() -> str:
    """The version of the package, e.g. ``"0.2.0"``.

    Returns
    -------
    str
        The installed distribution's version; when it is not installed (a source tree on
        ``sys.path``), the version in that tree's ``pyproject.toml``; failing both,
        ``"unknown"``.
    """
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pass
    if _is_source_checkout():
        try:
            import tomllib
            with open(_CHECKOUT / "pyproject.toml", "rb") as f:
                return str(tomllib.load(f)["project"]["version"])
        except (OSError, KeyError, ValueError):
            pass
    return "unknown"


@lru_cache(maxsize=1)
def source_commit() -> str | None:
    """The short commit hash of the source checkout the package runs from.

    Returns
    -------
    str or None
        ``git rev-parse --short HEAD`` of the checkout; None for an installed package,
        outside a git repository, or without git.
    """
    if not _is_source_checkout():
        return None
    try:
        out = subprocess.run(["git", "-C", str(_CHECKOUT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def describe() -> str:
    """The version with the commit where there is one: ``"0.2.0 (git a1b2c3d)"`` or ``"0.2.0"``."""
    commit = source_commit()
    return f"{package_version()} (git {commit})" if commit else package_version()
