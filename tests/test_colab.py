"""The course on Google Colab, simulated here: Colab's ipywidgets 7.7.1 and its bootstrap cell, for real.

A second virtual environment (.venv-colab/, gitignored; GPUVIZ_COLAB_VENV moves it) is pinned to what
Colab ships: ipywidgets 7.7.1, notebook 6.5, ipykernel 6.17, numba 0.61, numba-cuda 0.22 with CUDA 12's
NVVM and nvJitLink (Colab has them from its CUDA 12 toolkit; here the [cu12] wheels). Its torch is
the one this test runs with (Colab's CUDA build has no wheel here), linked in rather than installed
again: torch and the dependencies the environment lacks are symlinked into .venv-colab/host-torch/,
which a .pth file puts on sys.path after the environment's own packages, so pip and Python both see
an installed torch. It is built once (about 45 s) and reused while its spec is unchanged.

- every gpuviz widget is built and each of its controls changed under ipywidgets 7.7.1 (tests/widget_gallery.py);
- the Colab bootstrap cell (gpuviz.course.conventions.BOOTSTRAP), with a `google.colab` module present, really
  installs gpuviz, from a temporary git clone of this working tree instead of GitHub, and leaves
  torch, ipywidgets, numba, numba-cuda, numpy and matplotlib exactly as they were (versions, files,
  file times); the installed gpuviz then imports, and `gpuviz doctor` recognizes Colab without a GPU;
- kernels recorded in a simulator run there, and the ladder of `gpuviz bench`, compile with Colab's
  toolchain for sm_75 and sm_90 (`gpuviz compile-check LOG --ladder`), registers counted by its ptxas.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gpuviz.course import conventions

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("GPUVIZ_COLAB_VENV", ROOT / ".venv-colab"))
PY = VENV / "bin" / "python"
SPEC = ["ipywidgets==7.7.1", "notebook==6.5.*", "ipykernel==6.17.1", "numba==0.61.*", "numba-cuda[cu12]==0.22.*",
        "numpy", "matplotlib", "tqdm", "pooch"]
UNTOUCHED = ["torch", "ipywidgets", "numba", "numba-cuda", "numpy", "matplotlib", "widgetsnbextension",
             "ipykernel"]

pytestmark = [pytest.mark.colab, pytest.mark.slow]


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "NUMBA_ENABLE_CUDASIM", "GPUVIZ_STRICT")}
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra)
    return env


def _run(args, timeout=600, cwd=ROOT, **env):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=_env(**env), cwd=cwd)
    assert p.returncode == 0, f"{' '.join(map(str, args))[:300]}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p.stdout


def _link_torch():
    """Make this interpreter's torch (and what it needs that the environment lacks) importable there."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    have = {canonicalize_name(d["name"]) for d in json.loads(
        _run([PY, "-m", "pip", "list", "--format", "json"]))}
    dest = VENV / "host-torch"
    dest.mkdir(exist_ok=True)
    todo, seen = ["torch"], set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen or name in have:
            continue
        seen.add(name)
        dist = metadata.distribution(name)
        for r in dist.requires or []:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
        for top in {Path(str(f)).parts[0] for f in dist.files or []}:
            if top not in ("..", "bin", "__pycache__") and not top.endswith(".data") and not (dest / top).exists():
                (dest / top).symlink_to(dist.locate_file(top))
    site = Path(_run([PY, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    (site / "zz-host-torch.pth").write_text(f"{dest}\n")


@pytest.fixture(scope="module")
def colab_venv(tmp_path_factory):
    """The Colab-pinned environment, built on first use and reused while SPEC is unchanged."""
    stamp = VENV / "gpuviz-colab-spec.json"
    want = json.dumps({"spec": SPEC, "python": sys.version_info[:2]})
    if not (PY.exists() and stamp.exists() and stamp.read_text() == want):
        shutil.rmtree(VENV, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(VENV)])
        _run([PY, "-m", "pip", "install", "-q", *SPEC])
        _link_torch()
        stamp.write_text(want)
    return VENV


SNAPSHOT = r"""
import json, os, sys
from importlib import metadata
out = {}
for name in sys.argv[1:]:
    d = metadata.distribution(name)
    files = {str(f): os.stat(d.locate_file(f)).st_mtime_ns for f in d.files or [] if d.locate_file(f).exists()}
    out[name] = {"version": d.version, "files": files}
print(json.dumps(out))
"""


def _snapshot():
    return json.loads(_run([PY, "-c", SNAPSHOT, *UNTOUCHED]))


def test_every_widget_redraws_under_ipywidgets_7_7_1(colab_venv):
    out = _run([PY, str(ROOT / "tests" / "widget_gallery.py")], PYTHONPATH=str(ROOT))
    import widget_gallery

    assert "ipywidgets 7.7.1:" in out, out
    for name, i in widget_gallery.variants():
        assert f"ok {name}[{i}]:" in out, out


def _local_clone(dest: Path) -> str:
    """A git repository holding this working tree (committed or not) on branch main; its file:// URL."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z", "--", ".",
                            ":(exclude,glob).venv*/**"], capture_output=True,
                           cwd=ROOT, check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if f.split("/")[0].startswith(".venv") or (ROOT / f).resolve().is_relative_to(VENV.resolve()):
            continue                       # environments (gitignored in a clean checkout)
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    git = ["git", "-c", "user.name=gpuviz-tests", "-c", "user.email=tests@localhost", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q", "-b", conventions.BRANCH], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run([*git, *args], cwd=dest, check=True, capture_output=True)
    return f"file://localhost{dest}"   # a host: pip rejects git+file:/// in a `name @ url` requirement


def test_bootstrap_cell_installs_gpuviz_and_touches_nothing_else(colab_venv, tmp_path):
    subprocess.run([PY, "-m", "pip", "uninstall", "-q", "-y", "gpuviz"], capture_output=True, env=_env())
    url = _local_clone(tmp_path / "gpuviz")
    cell = conventions.BOOTSTRAP
    assert cell.count(f"git+{conventions.REPO_URL}@") == 1
    cell = cell.replace(f"git+{conventions.REPO_URL}@", f"git+{url}@")

    before = _snapshot()
    assert before["ipywidgets"]["version"] == "7.7.1"
    colab = "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n"
    _run([PY, "-c", colab + cell], cwd=tmp_path)     # not the repo: `import gpuviz` must find the installed one
    after = _snapshot()
    for name in UNTOUCHED:
        assert after[name]["version"] == before[name]["version"], f"the bootstrap changed {name}'s version"
        assert after[name]["files"] == before[name]["files"], f"the bootstrap rewrote files of {name}"

    where = _run([PY, "-c", "import gpuviz, ipywidgets; print(gpuviz.__file__); print(ipywidgets.__version__)"],
                 cwd=tmp_path)
    path, widgets_version = where.split()
    assert str(VENV) in path and str(ROOT / "gpuviz") not in path and widgets_version == "7.7.1"

    # the doctor, from the gpuviz the bootstrap installed, on a Colab CPU runtime
    report = _run([PY, "-m", "gpuviz", "doctor", "--no-kernel"], cwd=tmp_path, COLAB_RELEASE_TAG="release-colab-test")
    lines = dict(line.split(None, 1) for line in report.splitlines() if line.strip() and ":" not in line[:12])
    assert lines.get("ipywidgets") == "7.7.1" and lines.get("torch") == before["torch"]["version"], report
    assert lines.get("Colab") == "yes" and "Change runtime type" in report, report
    assert "OK: the course can run here." in report


RECORD = """
import importlib.util, sys
import numpy as np
from numba import cuda
from gpuviz.kernelrecord import record

spec = importlib.util.spec_from_file_location("kernels", sys.argv[1])
k = importlib.util.module_from_spec(spec)
spec.loader.exec_module(k)
a = np.arange(16, dtype=np.float32).reshape(4, 4)
for kernel, grid, block, args in ((k.tiled_copy, 1, (4, 4), (a, np.zeros_like(a), np.float32(2))),
                                  (k.make_scale(3), 1, 8, (np.ones(8, np.float32), 8))):
    record(kernel, args)                 # what gpuviz's launch hook does under GPUVIZ_KERNEL_LOG
    kernel[grid, block](*args)
assert cuda.compile_ptx is None          # the simulator ran them
"""


def test_kernels_and_the_ladder_compile_with_colabs_toolchain(colab_venv, tmp_path):
    """numba-cuda 0.22 and CUDA 12's NVVM: what a simulator run records there compiles for sm_75 and sm_90,
    and the bench ladder too, with its register counts from CUDA 12's ptxas."""
    log = tmp_path / "kernels.jsonl"
    _run([PY, "-c", RECORD, str(ROOT / "tests" / "compilecheck_fixtures" / "kernels.py")],
         PYTHONPATH=str(ROOT), NUMBA_ENABLE_CUDASIM="1", GPUVIZ_KERNEL_LOG=str(log))
    out = _run([PY, "-m", "gpuviz", "compile-check", str(log), "--ladder"], timeout=900, PYTHONPATH=str(ROOT))
    lines = out.splitlines()
    assert lines[0].startswith("compile-check: numba-cuda 0.22.") and "NVVM of CUDA 12." in lines[0], out
    for name in ("tiled_copy", "scale"):
        for sm in ("sm_75", "sm_90"):
            assert any(ln.startswith(f"ok     {sm}  {name}(") for ln in lines), out
    assert "compile-check: 4 passed, 0 failed" in lines, out
    rb2 = [ln.split() for ln in lines if " regblock2d " in ln]
    assert [r[2] for r in rb2] == ["sm_75", "sm_90"] and all(r[0] == "ok" and r[7] == "2" for r in rb2), out
    assert lines[-1] == "compile-check --ladder: 14 passed, 0 failed", out
