"""`gpuviz doctor`: can the course run here, and if not, exactly how to fix it.

Reports Python and the course's libraries, the CUDA driver and GPU (or simulator mode) and
Colab. Exits 0 when the course can run; otherwise non-zero, with the fix for each problem.
"""
from __future__ import annotations

import ctypes
import platform
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata

from gpuviz import runtime

PACKAGES = [("numpy", "numpy"), ("matplotlib", "matplotlib"), ("ipywidgets", "ipywidgets"),
            ("numba", "numba"), ("numba-cuda", "numba_cuda"), ("torch", "torch"), ("tqdm", "tqdm")]
OPTIONAL = [("jupyterlab", "JupyterLab")]

PTX_RE = re.compile(r"UNSUPPORTED_PTX_VERSION|\[222\]|provided PTX was compiled with an unsupported toolchain")


@dataclass
class Report:
    lines: list = field(default_factory=list)  # (label, value)
    problems: list = field(default_factory=list)  # (problem, fix)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        width = max(len(k) for k, _ in self.lines)
        out = [f"{k:<{width}}  {v}" for k, v in self.lines]
        for problem, fix in self.problems:
            out += ["", f"PROBLEM: {problem}", f"FIX:     {fix}"]
        out += ["", "OK: the course can run here." if self.ok else "The course cannot run here until the fixes above are applied."]
        return "\n".join(out)


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def driver_cuda_version() -> tuple[int, int] | None:
    """The CUDA version the installed driver supports, e.g. (12, 4); None without a driver."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    v = ctypes.c_int(0)
    if lib.cuDriverGetVersion(ctypes.byref(v)) != 0:
        return None
    return v.value // 1000, (v.value % 1000) // 10


def toolkit_major() -> int | None:
    """Major version of the CUDA toolkit wheels numba-cuda compiles with (nvidia-nvvm / cuda-bindings)."""
    for dist in ("nvidia-nvvm", "nvidia-cuda-nvcc-cu12", "cuda-bindings"):
        v = version(dist)
        if v:
            return int(v.split(".")[0])
    return None


def ptx_fix(driver: tuple[int, int]) -> str:
    return (f"The CUDA driver supports CUDA {driver[0]}.{driver[1]}, older than the toolkit numba-cuda compiles "
            f"with, so the GPU rejects its PTX. Install the toolkit that matches the driver: "
            f"pip install -U \"numba-cuda[cu{driver[0]}]\" then restart the Python kernel "
            f"(on Colab: Runtime > Restart session) and run the notebook again.")


def diagnose_error(text: str, driver: tuple[int, int] | None) -> str | None:
    """The fix for a known failure message from a kernel launch, or None if it is not one we know."""
    if PTX_RE.search(text):
        return ptx_fix(driver or (12, 0))
    if "CUDA_ERROR_NO_DEVICE" in text or "no CUDA-capable device" in text:
        return "No GPU is visible to the driver. On Colab: Runtime > Change runtime type > T4 GPU."
    return None


def collect(run_kernel: bool = True) -> Report:
    r = Report()
    r.lines.append(("Python", f"{platform.python_version()} ({sys.executable})"))
    for dist, _ in PACKAGES:
        v = version(dist)
        r.lines.append((dist, v or "MISSING"))
        if v is None:
            r.problems.append((f"{dist} is not installed", f"pip install \"{dist}\"  (or: pip install gpuviz)"))
    for dist, label in OPTIONAL:
        r.lines.append((label, version(dist) or "not installed (needed only to run the course locally: "
                                                "pip install \"gpuviz[lab]\")"))
    colab = runtime.in_colab()
    r.lines.append(("Colab", "yes" if colab else "no"))
    driver = driver_cuda_version()
    devices = runtime.cuda_device_count()
    if runtime.simulator_requested():
        r.lines.append(("GPU", "none used: NUMBA_ENABLE_CUDASIM=1 forces simulator mode"))
    elif devices == 0:
        r.lines.append(("GPU", "none: simulator mode (results exact, timings not meaningful)"))
        if colab:
            r.lines.append(("hint", runtime.COLAB_GPU_HOWTO))
    else:
        r.lines.append(("CUDA driver", f"supports CUDA {driver[0]}.{driver[1]}" if driver else "unknown"))
        tk = toolkit_major()
        r.lines.append(("CUDA toolkit (numba-cuda)", f"{tk}.x" if tk else "not found"))
        if driver and tk and tk > driver[0]:
            r.problems.append((f"CUDA_ERROR_UNSUPPORTED_PTX_VERSION ahead: toolkit {tk}.x is newer than the "
                               f"driver's CUDA {driver[0]}.{driver[1]}", ptx_fix(driver)))
        elif run_kernel and version("numba-cuda"):
            ok, out = runtime.smoke_test()
            r.lines.append(("test kernel", "compiled and ran" if ok else "FAILED"))
            if not ok:
                fix = diagnose_error(out, driver) or f"Unrecognized failure; its output was:\n{out[-1500:]}"
                r.problems.append(("a test kernel failed on the GPU", fix))
    r.lines.append(("torch.cuda", torch_cuda_line(devices)))
    return r


def torch_cuda_line(devices: int) -> str:
    """torch's own view of the GPU: independent of Numba's (a CPU build of torch on a GPU machine is common)."""
    try:
        import torch
    except ImportError:
        return "no torch"
    if torch.cuda.is_available():
        return f"yes: CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}"
    if torch.version.cuda is None and devices:
        return ("no: this torch is a CPU build, so lessons 07-12 train on the CPU here. For the GPU, install a "
                "CUDA build of torch (pytorch.org's install selector gives the command)")
    return "no: torch runs on the CPU"


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="gpuviz doctor", description=__doc__.splitlines()[0])
    ap.add_argument("--no-kernel", action="store_true", help="skip launching a test kernel on the GPU")
    args = ap.parse_args(argv)
    report = collect(run_kernel=not args.no_kernel)
    print(report.text())
    return 0 if report.ok else 1
