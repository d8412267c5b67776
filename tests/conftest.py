import matplotlib

matplotlib.use("Agg")

# Pin Numba's CUDA target for the whole test process before any test can switch it: the real
# target (kernels compile; with no GPU they cannot launch). Tests that need the simulator run it
# in a subprocess, or use gpuviz.tracer.scheduler, which runs kernels on the CPU in either mode.
# Triton (notebook 13) likewise, before anything imports it: its interpreter, on CPU tensors. Compiling
# Triton kernels for GPUs happens in subprocesses without it (gpuviz.course.compilecheck removes it).
import os  # noqa: E402

from numba import cuda  # noqa: E402,F401

os.environ["TRITON_INTERPRET"] = "1"
