"""Kernels for tests/test_compilecheck.py: they run in the simulator and, all but `alloc_inside`,
compile for real GPUs. Imported by path, in either Numba CUDA mode (so no eagerly compiled
`@cuda.jit("sig")` kernels here: without a GPU those fail at import in the real target)."""
import math

import numba
import numpy as np
from numba import cuda, float32

TPB = 4
SCALE = np.float32(0.5)


@cuda.jit(device=True)
def square(x):
    return x * x


@cuda.jit(device=True)
def norm2(x, y):
    return math.sqrt(square(x) + square(y))  # a device function calling another


@cuda.jit
def tiled_copy(a, out, s):
    """Globals (TPB, SCALE), math, a device function, a float32 cast, shared memory, 2D arrays."""
    tile = cuda.shared.array((TPB, TPB), float32)
    i, j = cuda.grid(2)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    if i < a.shape[0] and j < a.shape[1]:
        tile[tx, ty] = a[i, j]
    cuda.syncthreads()
    if i < a.shape[0] and j < a.shape[1]:
        out[i, j] = norm2(tile[tx, ty], numba.float32(0)) * numba.float32(s) * SCALE


def make_scale(k):
    """A kernel made in a closure: `k` is a nonlocal."""
    @cuda.jit(fastmath=True)
    def scale(a, n):
        i = cuda.grid(1)
        if i < n:
            a[i] = a[i] * k
    return scale


@cuda.jit
def alloc_inside(a):
    """Runs in the simulator; a GPU cannot allocate a NumPy array inside a kernel."""
    tmp = np.zeros(4)
    i = cuda.grid(1)
    if i < a.size:
        a[i] = tmp[0]

