"""The stand-in for `numba.cuda` that a traced kernel sees while it runs on the CPU.

Thread and block indices are plain attributes that the scheduler updates whenever it switches
threads (only one CUDA thread runs at a time). Shared arrays are per block, local arrays are plain
NumPy, atomics go through the recording arrays. `cuda.syncthreads()` never reaches this module: the
tracer rewrites it into a `yield` (see kernelsource.py).
"""
from __future__ import annotations

import math
import sys

import numpy as np

from gpuviz.launch import WARP_SIZE  # noqa: E402


class Dim3:
    __slots__ = ("x", "y", "z")

    def __init__(self, x=1, y=1, z=1):
        self.x, self.y, self.z = x, y, z

    def __iter__(self):
        return iter((self.x, self.y, self.z))

    def __repr__(self):
        return f"Dim3({self.x}, {self.y}, {self.z})"


def np_dtype(dtype) -> np.dtype:
    """A NumPy dtype from a NumPy or a Numba dtype (numba.float32 -> float32)."""
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype))


def _line(depth=2):
    return sys._getframe(depth).f_lineno


def _name_at(depth=2) -> str:
    """The variable a `x = cuda.shared.array(...)` call is assigned to, read from the caller's source."""
    import linecache

    f = sys._getframe(depth)
    text = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    name = text.split("=", 1)[0].strip() if "=" in text else ""
    return name if name.isidentifier() else f"shared@{f.f_lineno}"


def uninitialized(shape, dtype) -> np.ndarray:
    """Shared memory as a GPU hands it over: not zeroed. NaN for floats and a garbage pattern for
    integers, so a kernel that reads elements it never wrote gets visibly wrong results."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.full(shape, np.nan, dtype)
    if dtype.kind in "iu":
        return np.full(shape, 0x5A5A5A5A % (1 << (8 * dtype.itemsize - 1)), dtype)
    return np.zeros(shape, dtype)


class _Shared:
    def __init__(self, cuda):
        self._cuda = cuda

    def array(self, shape, dtype):
        """The k-th shared.array call of a thread gets its block's k-th shared array."""
        c = self._cuda
        k = c.shared_calls.get(c.thread_lin, 0)
        c.shared_calls[c.thread_lin] = k + 1
        arrays = c.block_shared
        if k == len(arrays):
            arrays.append(c.memory.add(_name_at(), "shared", uninitialized(shape, np_dtype(dtype)), c.block_lin))
        return arrays[k]


class _Local:
    @staticmethod
    def array(shape, dtype):
        return np.zeros(shape, np_dtype(dtype))


class _Const:
    @staticmethod
    def array_like(ary):
        return ary


def _rmw(update):
    def op(ary, idx, val):
        with np.errstate(over="ignore"):               # integers wrap around silently, as on a GPU
            return ary._atomic(idx, lambda old: update(old, val), _line())
    return op


class _Atomic:
    add = staticmethod(_rmw(lambda old, v: old + v))
    sub = staticmethod(_rmw(lambda old, v: old - v))
    max = staticmethod(_rmw(lambda old, v: max(old, v)))
    min = staticmethod(_rmw(lambda old, v: min(old, v)))
    nanmax = staticmethod(_rmw(lambda old, v: old if math.isnan(v) else v if math.isnan(old) else max(old, v)))
    nanmin = staticmethod(_rmw(lambda old, v: old if math.isnan(v) else v if math.isnan(old) else min(old, v)))
    exch = staticmethod(_rmw(lambda old, v: v))
    and_ = staticmethod(_rmw(lambda old, v: old & v))
    or_ = staticmethod(_rmw(lambda old, v: old | v))
    xor = staticmethod(_rmw(lambda old, v: old ^ v))
    inc = staticmethod(_rmw(lambda old, v: 0 if old >= v else old + 1))
    dec = staticmethod(_rmw(lambda old, v: v if old == 0 or old > v else old - 1))

    @staticmethod
    def cas(ary, idx, old, val):
        return ary._atomic(idx, lambda cur: val if cur == old else cur, _line())

    @staticmethod
    def compare_and_swap(ary, old, val):
        return ary._atomic(0, lambda cur: val if cur == old else cur, _line())


def _barrier_outside_kernel(*args):
    raise RuntimeError("the tracer only sees cuda.syncthreads() written as a call in the kernel or a device "
                       "function (e.g. `cuda.syncthreads()`), not through another name")


def _nothing(*args):
    return None


class FakeCuda:
    """Names a kernel reaches through `cuda.` (or imports from numba.cuda) while it is traced."""

    INTRINSICS = ("threadIdx", "blockIdx", "blockDim", "gridDim", "grid", "gridsize", "laneid", "warpsize",
                  "shared", "local", "const", "atomic", "syncthreads", "syncthreads_count", "syncthreads_and",
                  "syncthreads_or", "syncwarp", "threadfence", "threadfence_block", "threadfence_system", "fma")

    def __init__(self, real, memory, griddim, blockdim):
        self._real = real
        self.memory = memory
        self.threadIdx, self.blockIdx = Dim3(0, 0, 0), Dim3(0, 0, 0)
        self.blockDim, self.gridDim = Dim3(*blockdim), Dim3(*griddim)
        self.laneid, self.warpsize = 0, WARP_SIZE
        self.shared, self.local, self.const, self.atomic = _Shared(self), _Local(), _Const(), _Atomic()
        self.syncthreads = self.syncthreads_count = self.syncthreads_and = self.syncthreads_or = \
            _barrier_outside_kernel
        self.syncwarp = self.threadfence = self.threadfence_block = self.threadfence_system = _nothing
        self.block_lin, self.thread_lin, self.block_shared, self.shared_calls = 0, 0, [], {}

    def __getattr__(self, name):           # types (cuda.float32) and anything else: the real module's
        if self._real is None:
            raise AttributeError(name)
        return getattr(self._real, name)

    def enter_block(self, bidx, lin):
        self.blockIdx.x, self.blockIdx.y, self.blockIdx.z = bidx
        self.block_lin, self.block_shared, self.shared_calls = lin, [], {}

    def enter_thread(self, tidx, lin):
        t = self.threadIdx
        t.x, t.y, t.z = tidx
        self.thread_lin, self.laneid = lin, lin % WARP_SIZE

    @staticmethod
    def fma(a, b, c):
        return a * b + c

    def grid(self, ndim):
        t, b, d = self.threadIdx, self.blockIdx, self.blockDim
        x = t.x + b.x * d.x
        if ndim == 1:
            return x
        y = t.y + b.y * d.y
        return (x, y) if ndim == 2 else (x, y, t.z + b.z * d.z)

    def gridsize(self, ndim):
        g, d = self.gridDim, self.blockDim
        if ndim == 1:
            return g.x * d.x
        return (g.x * d.x, g.y * d.y) if ndim == 2 else (g.x * d.x, g.y * d.y, g.z * d.z)


class NumbaShim:
    """Stands in for the `numba` module in a kernel that writes `numba.cuda.grid(1)`."""

    def __init__(self, real, cuda):
        self._real, self.cuda = real, cuda

    def __getattr__(self, name):
        return getattr(self._real, name)
