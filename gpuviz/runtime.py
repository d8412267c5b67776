"""Where the course runs: a real CUDA GPU, or Numba's CUDA simulator on the CPU.

`setup()` is each notebook's first code cell. It picks the mode, switches the simulator on
before `numba.cuda` is imported, seeds every random source, installs launch validation and
prints a one-line banner. `pick(gpu=..., sim=...)` then chooses problem sizes in one place.
"""
from __future__ import annotations

import ctypes
import os
import random
import sys
from dataclasses import dataclass

SIM_BANNER = "CUDA simulator: results are exact, timings are not meaningful"
COLAB_GPU_HOWTO = ("This Colab runtime has no GPU. To get one: Runtime > Change runtime type > "
                   "Hardware accelerator: T4 GPU > Save, then run the notebook again from the top. "
                   "Until then kernels run in the CUDA simulator.")


class SetupError(RuntimeError):
    """The runtime cannot be set up as asked; the message says how to fix it."""


@dataclass(frozen=True)
class Info:
    mode: str  # "gpu" or "sim"
    name: str
    compute_capability: tuple | None = None
    sm_count: int | None = None
    memory_bytes: int | None = None
    colab: bool = False

    @property
    def banner(self) -> str:
        if self.mode == "sim":
            return SIM_BANNER
        cc = ".".join(map(str, self.compute_capability))
        return (f"GPU: {self.name}, compute capability {cc}, {self.sm_count} SMs, "
                f"{self.memory_bytes / 2**30:.1f} GiB")


_info: Info | None = None


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


def _describe_gpu() -> Info:
    from numba import cuda

    dev = cuda.get_current_device()
    free, total = cuda.current_context().get_memory_info()
    name = dev.name.decode() if isinstance(dev.name, bytes) else dev.name
    return Info("gpu", name, tuple(dev.compute_capability), dev.MULTIPROCESSOR_COUNT, total, in_colab())


def setup(seed_value: int = 0, *, quiet: bool = False) -> Info:
    """Pick GPU or simulator, seed everything, validate launches, print a banner. Returns Info."""
    global _info
    use_gpu = not simulator_requested() and cuda_device_count() > 0
    if not use_gpu:
        _enable_simulator()
        os.environ["TRITON_INTERPRET"] = "1"   # notebook 13: Triton's interpreter (read at `import triton`)
    from gpuviz import hooks

    hooks.install()
    _show_figures_inline()
    seed(seed_value)
    _info = _describe_gpu() if use_gpu else Info("sim", "CUDA simulator", colab=in_colab())
    if not quiet:
        print(_info.banner)
        if _info.mode == "sim" and _info.colab:
            print(COLAB_GPU_HOWTO)
    return _info


def info() -> Info:
    """The runtime chosen by setup(); runs setup quietly if it has not run yet."""
    return _info if _info is not None else setup(quiet=True)


def on_gpu() -> bool:
    return info().mode == "gpu"


def pick(*, gpu, sim):
    """Choose a value by mode: `n = gv.pick(gpu=4096, sim=64)`."""
    return gpu if on_gpu() else sim


def torch_device():
    """The torch device the course trains on: 'cuda' when torch sees a GPU, else 'cpu'."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
