"""Where the course runs: a real CUDA GPU, or Numba's CUDA simulator on the CPU.

`setup()` is each notebook's first code cell. It picks the mode, switches the simulator on
before `numba.cuda` is imported, seeds every random source, installs launch validation and
prints a one-line banner. `pick(gpu=..., sim=...)` then chooses problem sizes in one place.

Two facts are kept apart, because either can hold without the other: Numba runs kernels on a GPU
(`on_gpu()`: a test kernel compiled and launched there), and torch has CUDA (`torch_on_gpu()`: a CUDA
build of torch that sees a GPU). A CPU build of torch on a GPU machine, or the simulator forced on
one, are both real setups.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SIM_BANNER = "CUDA simulator: results are exact, timings are not meaningful"
COLAB_GPU_HOWTO = ("This Colab runtime has no GPU. To get one: Runtime > Change runtime type > "
                   "Hardware accelerator: T4 GPU > Save, then run the notebook again from the top. "
                   "Until then kernels run in the CUDA simulator.")
NO_GPU_HOWTO = ("This machine has no GPU for this course, so where a lesson is about GPU speed its figures show "
                "predictions from GPU datasheets, measurements published by others and results recorded on real "
                "GPUs, each labelled, beside what this machine measures. To run on a GPU: open the notebook in "
                "Colab (the badge at its top) and pick Runtime > Change runtime type > T4 GPU; `gpuviz doctor` "
                "in a terminal says why no GPU is found here.")


class SetupError(RuntimeError):
    """The runtime cannot be set up as asked; the message says how to fix it."""


class NoGPU(RuntimeError):
    """Something that runs on a real GPU only was asked for here; the message says why and what to do."""


def cuda_torch(purpose: str):
    """torch, when it has a CUDA GPU; otherwise NoGPU, saying `purpose` ("measuring a roof") needs one."""
    try:
        import torch
    except ImportError as e:
        raise NoGPU(f"{purpose} needs torch with CUDA; torch is not installed") from e
    if not torch.cuda.is_available():
        raise NoGPU(f"{purpose} needs a CUDA GPU, and torch sees none here (`gpuviz doctor` says why; a CPU-only "
                    "build of torch is one reason)")
    return torch


@dataclass(frozen=True)
class Info:
    mode: str  # where Numba runs kernels: "gpu" or "sim"
    name: str
    compute_capability: tuple | None = None
    sm_count: int | None = None
    memory_bytes: int | None = None
    colab: bool = False
    torch_cuda: bool = False        # torch is a CUDA build and sees a GPU (independent of `mode`)
    fallback: str | None = None     # why a GPU the driver reports is not used by Numba, with the fix

    @property
    def banner(self) -> str:
        if self.mode == "sim":
            numba_part = SIM_BANNER
        else:
            cc = ".".join(map(str, self.compute_capability))
            numba_part = (f"GPU: {self.name}, compute capability {cc}, {self.sm_count} SMs, "
                          f"{self.memory_bytes / 2**30:.1f} GiB")
        return f"{numba_part}. torch: {'CUDA' if self.torch_cuda else 'CPU only'}"


_info: Info | None = None
_lib = "numba"   # whose GPU this notebook's sizes and branches follow: set by setup(lib=...)


def in_colab() -> bool:
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def cuda_device_count() -> int:
    """CUDA devices the driver reports, asked through libcuda so that numba.cuda is not imported."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def simulator_requested() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def env_without_simulator(*also: str) -> dict:
    """This process's environment for a child that must use Numba's real CUDA target (to compile for a
    GPU, or to prove one works), without NUMBA_ENABLE_CUDASIM and the variables in `also`."""
    return {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM", *also)}


def _enable_simulator() -> None:
    """Switch Numba to its CUDA simulator; only possible before numba.cuda is first imported."""
    if "numba.cuda" in sys.modules and not sys.modules["numba.cuda.core.config"].ENABLE_CUDASIM:
        raise SetupError(
            "numba.cuda was imported before gv.setup(), on a machine with no usable GPU, so it cannot "
            "switch to the CUDA simulator any more. Fix: restart the kernel (Kernel > Restart) and run "
            "`import gpuviz as gv; gv.setup()` before any `from numba import cuda`.")
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    if "numba.core.config" in sys.modules:  # numba read its settings at import: have it read them again
        sys.modules["numba.core.config"].reload_config()


def seed(value: int = 0) -> None:
    """Seed Python's, NumPy's and torch's global random generators."""
    import numpy as np

    random.seed(value)
    np.random.seed(value)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(value)


def _show_figures_inline() -> None:
    """Make a returned matplotlib Figure display as an image in Jupyter (gpuviz's views return Figures)."""
    ip = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if ip is not None and getattr(ip, "kernel", None) is not None:
        ip.run_line_magic("matplotlib", "inline")


def _describe_gpu(torch_cuda: bool) -> Info:
    from numba import cuda

    dev = cuda.get_current_device()
    free, total = cuda.current_context().get_memory_info()
    name = dev.name.decode() if isinstance(dev.name, bytes) else dev.name
    return Info("gpu", name, tuple(dev.compute_capability), dev.MULTIPROCESSOR_COUNT, total, in_colab(),
                torch_cuda)


def _torch_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


SMOKE = """
from numba import cuda
import numpy as np
@cuda.jit
def inc(a):
    i = cuda.grid(1)
    if i < a.size:
        a[i] += 1
a = cuda.to_device(np.zeros(64, np.float32))
inc[2, 32](a)
assert (a.copy_to_host() == 1).all()
print("kernel ok")
"""


def smoke_test(timeout: float = 300) -> tuple[bool, str]:
    """Compile and launch one tiny kernel in a fresh process (so this process stays free to choose)."""
    try:
        p = subprocess.run([sys.executable, "-c", SMOKE], capture_output=True, text=True, timeout=timeout,
                           env=env_without_simulator())
    except subprocess.TimeoutExpired:
        return False, f"the test kernel did not finish in {timeout:.0f} s"
    return p.returncode == 0, (p.stdout + p.stderr).strip()


def _proof_file() -> Path:
    """Where a passed smoke test is remembered, keyed by interpreter, numba-cuda and driver: a proof
    costs a few seconds, and every notebook's setup() asks for it."""
    from importlib import metadata

    try:
        nc = metadata.version("numba-cuda")
    except metadata.PackageNotFoundError:
        nc = None
    from gpuviz.doctor import driver_cuda_version

    key = f"{sys.executable}|{nc}|{driver_cuda_version()}|{cuda_device_count()}"
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gpuviz"
    return cache / f"gpu-proof-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def gpu_usable() -> tuple[bool, str | None]:
    """Can Numba compile and launch kernels on the GPU the driver reports? (True, None), or (False, the
    reason with its fix). The driver's device count alone is not enough: a driver older than the toolkit
    numba-cuda installed fails at the first launch (CUDA_ERROR_UNSUPPORTED_PTX_VERSION)."""
    proof = _proof_file()
    if proof.exists():
        return True, None
    ok, out = smoke_test(timeout=120)
    if ok:
        try:
            proof.parent.mkdir(parents=True, exist_ok=True)
            proof.touch()
        except OSError:
            pass  # a read-only home: prove it again next time
        return True, None
    from gpuviz.doctor import diagnose_error, driver_cuda_version

    fix = diagnose_error(out, driver_cuda_version()) or (
        "Run `gpuviz doctor` in a terminal for details. The test kernel's last words were:\n" + out[-600:])
    return False, f"a GPU is present, but Numba could not run a test kernel on it. {fix}"


def setup(seed_value: int = 0, *, quiet: bool = False, lib: str = "numba") -> Info:
    """Pick GPU or simulator, seed everything, validate launches, print a banner. Returns Info.

    `lib` names the library whose GPU the notebook is about: "numba" (kernels; the default) or "torch"
    (lessons that only train with torch). `on_gpu()` and `pick()` then follow that library's GPU.
    """
    global _info, _lib
    if lib not in ("numba", "torch"):
        raise ValueError(f'setup(lib=...) is "numba" or "torch", not {lib!r}')
    _lib = lib
    use_gpu, fallback = not simulator_requested() and cuda_device_count() > 0, None
    if use_gpu:
        use_gpu, fallback = gpu_usable()
    if not use_gpu:
        _enable_simulator()
    torch_cuda = _torch_cuda()
    if not torch_cuda:     # Triton compiles for torch's CUDA tensors; without them, its interpreter (notebook 13)
        os.environ["TRITON_INTERPRET"] = "1"   # read at `import triton`
    from gpuviz import hooks

    hooks.install()
    _show_figures_inline()
    seed(seed_value)
    _info = (_describe_gpu(torch_cuda) if use_gpu else
             Info("sim", "CUDA simulator", colab=in_colab(), torch_cuda=torch_cuda, fallback=fallback))
    if not quiet:
        print(_info.banner)
        if _info.fallback:
            print(f"Kernels run in the CUDA simulator because {_info.fallback}")
        elif _info.mode == "sim" and _info.colab:
            print(COLAB_GPU_HOWTO)
        elif _info.mode == "sim" and not (lib == "torch" and torch_cuda):
            print(NO_GPU_HOWTO)     # once, at the top of the notebook: the way to a GPU
    return _info


def info() -> Info:
    """The runtime chosen by setup(); runs setup quietly if it has not run yet."""
    return _info if _info is not None else setup(quiet=True)


def on_gpu() -> bool:
    """The notebook's library runs on a real GPU: Numba's kernels (not the simulator), or torch after
    `setup(lib="torch")`."""
    return torch_on_gpu() if _lib == "torch" else info().mode == "gpu"


def torch_on_gpu() -> bool:
    """torch has CUDA: a CUDA build that sees a GPU. Independent of `on_gpu()`."""
    return info().torch_cuda


def pick(*, gpu, sim):
    """Choose a value by mode: `n = gv.pick(gpu=4096, sim=64)` (the GPU as `on_gpu()` sees it)."""
    return gpu if on_gpu() else sim


def torch_device():
    """The torch device the course trains on: 'cuda' when torch sees a GPU, else 'cpu'."""
    import torch

    return torch.device("cuda" if torch_on_gpu() else "cpu")
