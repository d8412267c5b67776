"""mybinder.org's configuration (binder/), checked as far as possible without Docker or repo2docker.

Binder has no GPU and 1 to 2 GB of memory: torch must be a CPU wheel from PyTorch's CPU index, gpuviz
installed from the checkout, kernels in Numba's simulator, and the README's badge opens notebook 00 in
JupyterLab.
"""
import os
import re
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from gpuviz.course.conventions import BRANCH, REPO_URL

tomllib = pytest.importorskip("tomllib")   # Python 3.11+; on 3.10 these checks skip

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
BADGE_URL = (f"https://mybinder.org/v2/gh/{REPO_URL.removeprefix('https://github.com/')}/{BRANCH}"
             "?urlpath=lab/tree/notebooks/00_why_gpus.ipynb")


def _requirements():
    options, reqs = [], {}
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            options.append(line)
        else:
            r = Requirement(line)
            reqs[r.name] = r
    return options, reqs


def _pyproject_deps():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = [*project["dependencies"], *project["optional-dependencies"]["lab"]]
    return {Requirement(d).name: Requirement(d) for d in deps}


def test_torch_is_a_cpu_wheel_from_pytorchs_cpu_index():
    options, reqs = _requirements()
    assert f"--extra-index-url {CPU_INDEX}" in options or f"--index-url {CPU_INDEX}" in options
    pins = [s for s in reqs["torch"].specifier if s.operator == "=="]
    assert len(pins) == 1, "pin torch to one CPU build: an unpinned torch may resolve to PyPI's CUDA build"
    v = Version(pins[0].version)
    assert v.local == "cpu", f"torch {v} is not a +cpu build"
    # the same release scripts/env.sh installs everywhere else
    assert f'torch=={v.public}"' in (ROOT / "scripts" / "env.sh").read_text()


def test_versions_fit_pyproject_ranges():
    _, reqs = _requirements()
    ranges = _pyproject_deps()
    for name, req in reqs.items():
        assert name in ranges, f"binder installs {name}, which pyproject.toml does not list"
        for spec in req.specifier:
            if spec.operator == "==":
                assert Version(spec.version) in ranges[name].specifier, f"{spec} outside pyproject's {ranges[name]}"
            elif spec.operator == ">=":
                # the lowest version binder allows must be one that pyproject allows too
                assert Version(spec.version) in ranges[name].specifier, f"{spec} outside pyproject's {ranges[name]}"


def test_runtime_is_a_python_the_course_supports():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-(\d+)\.(\d+)", runtime)
    assert m, runtime
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    from packaging.specifiers import SpecifierSet

    assert Version(f"{m[1]}.{m[2]}") in SpecifierSet(requires)


def test_post_build_installs_the_course_and_start_selects_the_simulator(tmp_path):
    for name in ("postBuild", "start"):
        path = BINDER / name
        assert os.access(path, os.X_OK), f"binder/{name} must be executable"
        mode = subprocess.run(["git", "ls-files", "-s", f"binder/{name}"], capture_output=True, text=True,
                              cwd=ROOT).stdout.split()
        assert not mode or mode[0] == "100755", f"binder/{name} must be committed executable (git add --chmod=+x)"
        assert path.read_text().startswith("#!/usr/bin/env bash\n")
        subprocess.run(["bash", "-n", str(path)], check=True)
        assert "export NUMBA_ENABLE_CUDASIM=1" in path.read_text()
    post = (BINDER / "postBuild").read_text()
    assert "set -euo pipefail" in post and re.search(r"pip install [^\n]*-e \"?\.(\[lab\])?\"?", post)
    assert "torch" not in post.replace("torch (a CPU wheel)", ""), "postBuild must not (re)install torch"
    # start runs the command it is given, with the simulator selected
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([str(BINDER / "start"), "env"], capture_output=True, text=True, env=env, check=True)
    assert "NUMBA_ENABLE_CUDASIM=1" in out.stdout.splitlines()


def test_readme_binder_badge_opens_notebook_00_in_the_lab():
    assert (ROOT / "notebooks" / "00_why_gpus.ipynb").exists()
    assert BADGE_URL in (ROOT / "README.md").read_text(), f"README needs the Binder badge linking {BADGE_URL}"
