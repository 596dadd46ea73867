"""pbstats as a distribution: one importable name (`pbstats.*`), what a plain (non-editable) install
holds, and the command's main job working there with the declared dependencies alone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("schemas", "transforms", "expectations", "warehouse", "flows", "gen")
# an import statement, or one in a program a test or the bench hands to another interpreter as a string
BARE_IMPORT = re.compile(rf"^\s*[\"']?(?:from|import)\s+(?:{'|'.join(PACKAGES)})(?:\.|\s|$)", re.M)
TESTS_IMPORT = re.compile(r"^\s*(?:from|import)\s+tests(?:\.|\s|$)", re.M)


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def test_no_module_imports_our_packages_by_their_bare_names():
    """A bare `import schemas` would load a second copy of the module in a checkout and fail in a
    plain install, where only `pbstats` exists."""
    offenders = [
        f"{p.relative_to(ROOT)}: {m.group(0).strip()}"
        for p in _sources(*PACKAGES, "pbstats", "tests", "bench", "reliability")
        for m in BARE_IMPORT.finditer(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_no_production_module_imports_the_tests():
    offenders = [
        str(p.relative_to(ROOT)) for p in _sources(*PACKAGES) if TESTS_IMPORT.search(p.read_text("utf-8"))
    ]
    assert offenders == []


def _uv() -> str:
    found = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    assert Path(found).exists(), "uv is needed (the Makefile installs it)"
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [_uv(), "build", "--wheel", "--out-dir", str(out), str(ROOT)], check=True, capture_output=True
    )
    (found,) = out.glob("pbstats-*.whl")
    return found


@pytest.mark.slow
def test_the_wheel_holds_one_top_level_name_with_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"pbstats"}
    for data in (
        "pbstats/schemas/data/orgs.csv",
        "pbstats/expectations/DJ-1.json",
        "pbstats/expectations/DJ-2.json",
        "pbstats/warehouse/migrations/env.py",
        "pbstats/prefect.yaml",  # what `pbstats serve` deploys, found above flows/ as in a checkout
    ):
        assert data in names


@pytest.mark.slow
def test_a_plain_install_runs_the_demo_and_owns_no_other_top_level_name(wheel, tmp_path):
    """`uv pip install` of the wheel into an empty venv: `pbstats demo` works with the declared
    dependencies alone (gen/ writes .xls and .ods), and `import schemas` finds nothing."""
    venv = tmp_path / "venv"
    subprocess.run([_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([_uv(), "pip", "install", "--quiet", "--python", str(python), str(wheel)], check=True)

    bare = subprocess.run([python, "-c", "import schemas"], capture_output=True, text=True, cwd=tmp_path)
    assert bare.returncode == 1 and "No module named 'schemas'" in bare.stderr

    (tmp_path / "prefect").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBSTATS_", "PREFECT_"))}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    demo = subprocess.run(
        [venv / "bin" / "pbstats", "demo", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the checkout: nothing of it on the path
        env=env,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-4000:]
    assert (tmp_path / "demo" / "home" / "warehouse.db").stat().st_size > 0
    assert "v_year_review" in demo.stdout
