import matplotlib

matplotlib.use("Agg")

# Pin Numba's CUDA target for the whole test process before any test can switch it: the real
# target (kernels compile; with no GPU they cannot launch). Tests that need the simulator run it
# in a subprocess, or use gpuviz.trace, which runs kernels on the CPU in either mode.
from numba import cuda  # noqa: E402,F401

# Triton (notebook 13) likewise, before anything imports it: its interpreter, on CPU tensors. Compiling
# Triton kernels for GPUs happens in subprocesses without it (gpuviz.compilecheck removes it).
import os  # noqa: E402

os.environ["TRITON_INTERPRET"] = "1"
