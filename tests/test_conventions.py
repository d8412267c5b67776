import copy
import glob
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from gpuviz.course import conventions

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted(glob.glob(str(ROOT / "notebooks" / "*.ipynb")) + glob.glob(str(ROOT / "course/solutions/*.ipynb")))


def test_there_are_notebooks():
    assert any("course/solutions" in p for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: os.path.relpath(p, ROOT))
def test_notebook_follows_conventions(path):
    nb = nbformat.read(path, as_version=4)
    assert conventions.problems(nb, Path(path).name) == []


def test_violations_are_caught():
    path = next(p for p in NOTEBOOKS if "course/solutions" in p)
    good = nbformat.read(path, as_version=4)
    name = Path(path).name

    def broken(edit):
        nb = copy.deepcopy(good)
        edit(nb)
        return conventions.problems(nb, name)

    def first_code(nb):
        return [c for c in nb.cells if c.cell_type == "code"][2]

    assert any("bootstrap" in p for p in broken(lambda nb: nb.cells[0].update(source="pass")))
    assert any("outputs" in p for p in broken(lambda nb: first_code(nb).update(execution_count=3)))
    assert any("unseeded" in p for p in broken(
        lambda nb: first_code(nb).update(source="rng = np.random.default_rng()")))
    assert any("badge" in p for p in broken(lambda nb: nb.cells[1].update(source="# Title")))
    assert any("accelerator" in p for p in broken(lambda nb: nb.metadata.pop("accelerator")))
    assert any("Time:" in p for p in broken(
        lambda nb: nb.cells[1].update(source=nb.cells[1].source.replace("Time: about", "About"))))


def test_repo_url_lives_in_one_setting():
    """The repository URL appears in the package only in conventions.py."""
    hits = [p for p in (ROOT / "gpuviz").rglob("*.py") if conventions.REPO_URL in p.read_text()]
    assert hits == [ROOT / "gpuviz" / "course" / "conventions.py"]


def _run_bootstrap(colab: bool):
    code = f"""
import subprocess, sys, types
calls = []
subprocess.run = lambda *a, **k: calls.append(a[0])
if {colab}:
    sys.modules["google.colab"] = types.ModuleType("google.colab")
exec({conventions.BOOTSTRAP!r})
print(calls)
"""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()


def test_bootstrap_does_nothing_outside_colab():
    assert _run_bootstrap(False) == "[]"


def test_bootstrap_installs_gpuviz_only_on_colab():
    out = _run_bootstrap(True)
    assert f"gpuviz @ git+{conventions.REPO_URL}@main" in out
    for pkg in ("torch", "ipywidgets", "numba-cuda", "--upgrade", "-U"):
        assert f"'{pkg}'" not in out
