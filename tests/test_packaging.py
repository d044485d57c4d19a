"""The wheel ships every package of the watcher and the systemd units: a package added to
the tree but forgotten in pyproject.toml would install a command that fails on import."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def build_wheel(tmp_path: Path) -> zipfile.ZipFile:
    # A copy, so that the build leaves nothing (build/, *.egg-info) in the checkout.
    source = tmp_path / "source"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "__pycache__"),
    )
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    result = subprocess.run(
        [*pip_wheel, "--quiet", "--wheel-dir", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "dist").glob("grok_usage_watcher-*.whl")
    return zipfile.ZipFile(wheel)


def test_the_wheel_holds_every_package_module_and_unit(tmp_path):
    names = set(build_wheel(tmp_path).namelist())
    modules = {str(p.relative_to(REPO)) for p in (REPO / "watcher").rglob("*.py")}
    assert any(m.startswith("watcher/core/") for m in modules)  # the layers are there to find
    assert modules - names == set(), "left out of the wheel"
    units = {f"watcher/units/{p.name}" for p in (REPO / "systemd").iterdir() if p.is_file()}
    assert units and units - names == set(), "units left out of the wheel"
