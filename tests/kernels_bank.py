"""Kernels for the tracer's tests: buggy ones (each with one known bug) and correct ones.

Written the way a learner writes them: `from numba import cuda`, `@cuda.jit`, module constants.
"""
import math

import numba
from numba import cuda, float32, int32

TPB = 8        # tile width / threads per block side
RED = 16       # threads per block of the reductions


# ---- correct kernels -----------------------------------------------------------------------------

@cuda.jit
def matmul_tiled(A, B, C):
    sA = cuda.shared.array((TPB, TPB), float32)
    sB = cuda.shared.array((TPB, TPB), float32)
    col, row = cuda.grid(2)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    acc = float32(0.0)
    for k in range((A.shape[1] + TPB - 1) // TPB):
        sA[ty, tx] = A[row, k * TPB + tx] if row < A.shape[0] and k * TPB + tx < A.shape[1] else 0.0
        sB[ty, tx] = B[k * TPB + ty, col] if col < B.shape[1] and k * TPB + ty < B.shape[0] else 0.0
        cuda.syncthreads()
        for j in range(TPB):
            acc += sA[ty, j] * sB[j, tx]
        cuda.syncthreads()
    if row < C.shape[0] and col < C.shape[1]:
        C[row, col] = acc


@cuda.jit(device=True)
def _pair_sum(s, i, stride):
    return s[i] + s[i + stride]


@cuda.jit
def reduce_sum(x, out):
    s = cuda.shared.array(RED, float32)
    tid = cuda.threadIdx.x
    i = cuda.grid(1)
    s[tid] = x[i] if i < x.size else 0.0
    cuda.syncthreads()
    stride = RED // 2
    while stride > 0:
        if tid < stride:
            s[tid] = _pair_sum(s, tid, stride)
        cuda.syncthreads()
        stride //= 2
    if tid == 0:
        cuda.atomic.add(out, 0, s[0])


@cuda.jit
def histogram_atomic(data, hist):
    i = cuda.grid(1)
    if i < data.size:
        cuda.atomic.add(hist, data[i], 1)


@cuda.jit
def stencil_guarded(a, out):
    i = cuda.grid(1)
    if 0 < i < a.size - 1:
        out[i] = numba.float32(0.25) * a[i - 1] + numba.float32(0.5) * a[i] + numba.float32(0.25) * a[i + 1]


@cuda.jit
def transpose_tiled(a, out):
    tile = cuda.shared.array((TPB, TPB + 1), float32)   # +1 column: no bank conflicts
    x, y = cuda.grid(2)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    if y < a.shape[0] and x < a.shape[1]:
        tile[ty, tx] = a[y, x]
    cuda.syncthreads()
    ox = cuda.blockIdx.y * TPB + tx
    oy = cuda.blockIdx.x * TPB + ty
    if oy < out.shape[0] and ox < out.shape[1]:
        out[oy, ox] = tile[tx, ty]


@cuda.jit
def vector_math(x, out):
    i = cuda.grid(1)
    if i < x.size:
        tmp = cuda.local.array(2, float32)
        tmp[0] = math.sqrt(x[i])
        tmp[1] = int32(x[i])
        out[i] = tmp[0] + tmp[1]


# ---- buggy kernels -------------------------------------------------------------------------------

@cuda.jit
def matmul_no_barrier_before_use(A, B, C):
    sA = cuda.shared.array((TPB, TPB), float32)
    sB = cuda.shared.array((TPB, TPB), float32)
    col, row = cuda.grid(2)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    acc = float32(0.0)
    for k in range(A.shape[1] // TPB):
        sA[ty, tx] = A[row, k * TPB + tx]
        sB[ty, tx] = B[k * TPB + ty, col]
        for j in range(TPB):                      # bug: no cuda.syncthreads() before the tile is used
            acc += sA[ty, j] * sB[j, tx]
        cuda.syncthreads()
    C[row, col] = acc


@cuda.jit
def matmul_no_barrier_after_use(A, B, C):
    sA = cuda.shared.array((TPB, TPB), float32)
    sB = cuda.shared.array((TPB, TPB), float32)
    col, row = cuda.grid(2)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    acc = float32(0.0)
    for k in range(A.shape[1] // TPB):
        sA[ty, tx] = A[row, k * TPB + tx]
        sB[ty, tx] = B[k * TPB + ty, col]
        cuda.syncthreads()
        for j in range(TPB):
            acc += sA[ty, j] * sB[j, tx]
        # bug: no cuda.syncthreads() here; the next iteration overwrites the tile still being read
    C[row, col] = acc


@cuda.jit
def add_no_guard(a, b, out):
    i = cuda.grid(1)
    out[i] = a[i] + b[i]                          # bug: no `if i < out.size`


@cuda.jit
def scale_swapped(a, out):
    x, y = cuda.grid(2)
    if y < a.shape[0] and x < a.shape[1]:
        out[x, y] = 2 * a[y, x]                   # bug: out[y, x] was meant


@cuda.jit
def histogram_no_atomic(data, hist):
    i = cuda.grid(1)
    if i < data.size:
        hist[data[i]] += 1                        # bug: a read-modify-write race


@cuda.jit
def stencil_no_left_guard(a, out):
    i = cuda.grid(1)
    if i < a.size - 1:                            # bug: i = 0 reads a[-1]
        out[i] = (a[i - 1] + a[i] + a[i + 1]) / 3


@cuda.jit
def barrier_in_branch(x, out):
    s = cuda.shared.array(RED, float32)
    tid = cuda.threadIdx.x
    s[tid] = x[tid]
    if tid < RED // 2:
        cuda.syncthreads()                        # bug: only half the block gets here
    out[tid] = s[RED - 1 - tid]


@cuda.jit
def reduce_no_barrier(x, out):
    s = cuda.shared.array(RED, float32)
    tid = cuda.threadIdx.x
    s[tid] = x[cuda.grid(1)]
    cuda.syncthreads()
    stride = RED // 2
    while stride > 0:
        if tid < stride:
            s[tid] += s[tid + stride]
        stride //= 2                              # bug: no cuda.syncthreads() between the steps
    if tid == 0:
        out[cuda.blockIdx.x] = s[0]


@cuda.jit
def too_much_shared(x):
    s = cuda.shared.array((128, 128), float32)    # 64 KiB: over the 48 KiB limit
    s[0, 0] = x[0]
