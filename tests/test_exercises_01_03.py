"""Exercises of notebooks 01-03: for each, the stub fails, the solution passes, and every known wrong
answer is rejected with the right diagnosis. Kernels run under gpuviz's tracer (no GPU, no simulator).
"""
import re

import numpy as np
import pytest
from numba import cuda, float32, int32

from gpuviz.exercises import lesson01, lesson02, lesson03

TPB = lesson03.TPB
WR, WG, WB = float32(0.299), float32(0.587), float32(0.114)



@cuda.jit
def stub_kernel(a, b):
    raise NotImplementedError()


@cuda.jit
def stub_kernel4(a, x, y, out):
    raise NotImplementedError()


# ---------------- 01-saxpy (a grid-stride loop)
@cuda.jit
def saxpy_ok(a, x, y, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = a * x[i] + y[i]


@cuda.jit
def saxpy_no_loop(a, x, y, out):          # one element per thread: the small grid leaves most unwritten
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a * x[i] + y[i]


@cuda.jit
def saxpy_no_guard(a, x, y, out):         # a while loop that checks the bound too late
    i = cuda.grid(1)
    while True:
        out[i] = a * x[i] + y[i]
        i += cuda.gridsize(1)
        if i >= out.size:
            break


@cuda.jit
def saxpy_swapped(a, x, y, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = a * y[i] + x[i]


@cuda.jit
def saxpy_block_stride(a, x, y, out):     # steps by the block size: blocks overlap
    for i in range(cuda.grid(1), out.size, cuda.blockDim.x):
        out[i] = a * x[i] + y[i]


@cuda.jit
def saxpy_step_one(a, x, y, out):         # every thread runs to the end
    for i in range(cuda.grid(1), out.size):
        out[i] = a * x[i] + y[i]


@cuda.jit
def saxpy_thread_only(a, x, y, out):      # threadIdx.x and blockDim.x: every block does the whole array
    for i in range(cuda.threadIdx.x, out.size, cuda.blockDim.x):
        out[i] = a * x[i] + y[i]


@cuda.jit
def saxpy_into_y(a, x, y, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        y[i] = a * x[i] + y[i]


# ---------------- 01-grayscale
@cuda.jit
def gray_ok(rgb, gray):
    col, row = cuda.grid(2)
    if row < gray.shape[0] and col < gray.shape[1]:
        gray[row, col] = WR * rgb[row, col, 0] + WG * rgb[row, col, 1] + WB * rgb[row, col, 2]


@cuda.jit
def gray_no_guard(rgb, gray):
    col, row = cuda.grid(2)
    gray[row, col] = WR * rgb[row, col, 0] + WG * rgb[row, col, 1] + WB * rgb[row, col, 2]


@cuda.jit
def gray_half_guard(rgb, gray):
    col, row = cuda.grid(2)
    if row < gray.shape[0]:
        gray[row, col] = WR * rgb[row, col, 0] + WG * rgb[row, col, 1] + WB * rgb[row, col, 2]


@cuda.jit
def gray_swapped_axes(rgb, gray):
    row, col = cuda.grid(2)
    if row < gray.shape[0] and col < gray.shape[1]:
        gray[row, col] = WR * rgb[row, col, 0] + WG * rgb[row, col, 1] + WB * rgb[row, col, 2]


@cuda.jit
def gray_bgr(rgb, gray):
    col, row = cuda.grid(2)
    if row < gray.shape[0] and col < gray.shape[1]:
        gray[row, col] = WB * rgb[row, col, 0] + WG * rgb[row, col, 1] + WR * rgb[row, col, 2]


@cuda.jit
def gray_mean(rgb, gray):
    col, row = cuda.grid(2)
    if row < gray.shape[0] and col < gray.shape[1]:
        gray[row, col] = (rgb[row, col, 0] + rgb[row, col, 1] + rgb[row, col, 2]) / float32(3.0)


# ---------------- 02-copy2d
@cuda.jit
def copy2d_ok(src, dst):
    col, row = cuda.grid(2)
    if row < dst.shape[0] and col < dst.shape[1]:
        dst[row, col] = src[row, col]


@cuda.jit
def copy2d_uncoalesced(src, dst):
    row, col = cuda.grid(2)
    if row < dst.shape[0] and col < dst.shape[1]:
        dst[row, col] = src[row, col]


@cuda.jit
def copy2d_no_guard(src, dst):
    col, row = cuda.grid(2)
    dst[row, col] = src[row, col]


@cuda.jit
def copy2d_transposed(src, dst):
    col, row = cuda.grid(2)
    if row < dst.shape[0] and col < dst.shape[1]:
        dst[row, col] = src[col, row]


# ---------------- 02-col-sums
@cuda.jit
def col_sums_ok(a, out):
    c = cuda.grid(1)
    if c < a.shape[1]:
        total = float32(0.0)
        for r in range(a.shape[0]):
            total += a[r, c]
        out[c] = total


@cuda.jit
def col_sums_rows(a, out):          # sums rows instead
    r = cuda.grid(1)
    if r < a.shape[0]:
        total = float32(0.0)
        for k in range(a.shape[1]):
            total += a[r, k]
        out[r] = total


@cuda.jit
def col_sums_no_guard(a, out):
    c = cuda.grid(1)
    total = float32(0.0)
    for r in range(a.shape[0]):
        total += a[r, c]
    out[c] = total


@cuda.jit
def col_sums_skip_first(a, out):
    c = cuda.grid(1)
    if c < a.shape[1]:
        total = float32(0.0)
        for r in range(1, a.shape[0]):
            total += a[r, c]
        out[c] = total


@cuda.jit
def col_sums_float64(a, out):       # `0.0` is a float64 in Numba
    c = cuda.grid(1)
    if c < a.shape[1]:
        total = 0.0
        for r in range(a.shape[0]):
            total += a[r, c]
        out[c] = total


@cuda.jit
def col_sums_float_call(a, out):    # so is float(0)
    c = cuda.grid(1)
    if c < a.shape[1]:
        total = float(0)
        for r in range(a.shape[0]):
            total = total + a[r, c]
        out[c] = total


@cuda.jit
def col_sums_int_start(a, out):     # an int64, which turns float64 at the first float32 added
    c = cuda.grid(1)
    if c < a.shape[1]:
        total = 0
        for r in range(a.shape[0]):
            total += a[r, c]
        out[c] = total


@cuda.jit
def col_sums_np_float32(a, out):    # also right: np.float32(0) is a float32
    c = cuda.grid(1)
    if c < a.shape[1]:
        total = np.float32(0)
        for r in range(a.shape[0]):
            total += a[r, c]
        out[c] = total


# ---------------- 03-block-sums: thread coarsening, a grid-stride loop into a register, then the tree
@cuda.jit
def block_sums_ok(x, partial):
    cache = cuda.shared.array(TPB, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    acc = float32(0.0)
    while i < x.size:
        acc += x[i]
        i += cuda.gridsize(1)
    cache[t] = acc
    cuda.syncthreads()
    step = TPB // 2
    while step > 0:
        if t < step:
            cache[t] += cache[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = cache[0]


@cuda.jit
def block_sums_one_each(x, partial):          # sum_tree's load: one element per thread, no loop
    cache = cuda.shared.array(TPB, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    cache[t] = x[i] if i < x.size else float32(0.0)
    cuda.syncthreads()
    step = TPB // 2
    while step > 0:
        if t < step:
            cache[t] += cache[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = cache[0]


@cuda.jit
def block_sums_block_stride(x, partial):      # steps by the block, not the grid: blocks overlap
    cache = cuda.shared.array(TPB, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    acc = float32(0.0)
    while i < x.size:
        acc += x[i]
        i += cuda.blockDim.x
    cache[t] = acc
    cuda.syncthreads()
    step = TPB // 2
    while step > 0:
        if t < step:
            cache[t] += cache[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = cache[0]


@cuda.jit
def block_sums_chunks(x, partial):            # each thread a contiguous chunk: right total, uncoalesced
    cache = cuda.shared.array(TPB, float32)
    t = cuda.threadIdx.x
    g = cuda.grid(1)
    per = (x.size + cuda.gridsize(1) - 1) // cuda.gridsize(1)
    acc = float32(0.0)
    for i in range(g * per, min((g + 1) * per, x.size)):
        acc += x[i]
    cache[t] = acc
    cuda.syncthreads()
    step = TPB // 2
    while step > 0:
        if t < step:
            cache[t] += cache[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = cache[0]


@cuda.jit
def block_sums_fixed_count(x, partial):       # a fixed number of steps: the last threads run past the end
    cache = cuda.shared.array(TPB, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    acc = float32(0.0)
    for k in range((x.size + cuda.gridsize(1) - 1) // cuda.gridsize(1)):
        acc += x[i + k * cuda.gridsize(1)]
    cache[t] = acc
    cuda.syncthreads()
    step = TPB // 2
    while step > 0:
        if t < step:
            cache[t] += cache[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = cache[0]


@cuda.jit
def block_sums_float64(x, partial):           # acc = 0.0 is a float64 register
    cache = cuda.shared.array(TPB, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    acc = 0.0
    while i < x.size:
        acc += x[i]
        i += cuda.gridsize(1)
    cache[t] = acc
    cuda.syncthreads()
    step = TPB // 2
    while step > 0:
        if t < step:
            cache[t] += cache[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = cache[0]


@cuda.jit
def block_sums_no_loop_barrier(x, partial):
    cache = cuda.shared.array(TPB, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    acc = float32(0.0)
    while i < x.size:
        acc += x[i]
        i += cuda.gridsize(1)
    cache[t] = acc
    cuda.syncthreads()
    step = TPB // 2
    while step > 0:
        if t < step:
            cache[t] += cache[t + step]
        step //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = cache[0]


@cuda.jit
def block_sums_no_load_barrier(x, partial):
    cache = cuda.shared.array(TPB, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    acc = float32(0.0)
    while i < x.size:
        acc += x[i]
        i += cuda.gridsize(1)
    cache[t] = acc
    step = TPB // 2
    while step > 0:
        if t < step:
            cache[t] += cache[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = cache[0]


@cuda.jit
def block_sums_barrier_in_if(x, partial):
    cache = cuda.shared.array(TPB, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    acc = float32(0.0)
    while i < x.size:
        acc += x[i]
        i += cuda.gridsize(1)
    cache[t] = acc
    cuda.syncthreads()
    step = TPB // 2
    while step > 0:
        if t < step:
            cache[t] += cache[t + step]
            cuda.syncthreads()
        step //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = cache[0]


@cuda.jit
def block_sums_every_thread_writes(x, partial):
    cache = cuda.shared.array(TPB, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    acc = float32(0.0)
    while i < x.size:
        acc += x[i]
        i += cuda.gridsize(1)
    cache[t] = acc
    cuda.syncthreads()
    step = TPB // 2
    while step > 0:
        if t < step:
            cache[t] += cache[t + step]
        cuda.syncthreads()
        step //= 2
    partial[cuda.blockIdx.x] = cache[0]


@cuda.jit
def block_sums_step_too_big(x, partial):      # the tree starts at TPB: reads past the shared array
    cache = cuda.shared.array(TPB, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    acc = float32(0.0)
    while i < x.size:
        acc += x[i]
        i += cuda.gridsize(1)
    cache[t] = acc
    cuda.syncthreads()
    step = TPB
    while step > 0:
        if t < step:
            cache[t] += cache[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = cache[0]


@cuda.jit
def block_sums_global_index(x, partial):      # writes partial[i] instead of partial[blockIdx.x]
    cache = cuda.shared.array(TPB, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    g = i
    acc = float32(0.0)
    while i < x.size:
        acc += x[i]
        i += cuda.gridsize(1)
    cache[t] = acc
    cuda.syncthreads()
    step = TPB // 2
    while step > 0:
        if t < step:
            cache[t] += cache[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0 and g < partial.size:
        partial[g] = cache[0]


@cuda.jit
def block_sums_empty_block_skips(x, partial):  # a block whose threads read nothing writes nothing
    cache = cuda.shared.array(TPB, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    if cuda.blockIdx.x * cuda.blockDim.x >= x.size:
        return
    acc = float32(0.0)
    while i < x.size:
        acc += x[i]
        i += cuda.gridsize(1)
    cache[t] = acc
    cuda.syncthreads()
    step = TPB // 2
    while step > 0:
        if t < step:
            cache[t] += cache[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = cache[0]


# ---------------- 03-hist-atomic
@cuda.jit
def hist_ok(levels, hist):
    i = cuda.grid(1)
    if i < levels.size:
        cuda.atomic.add(hist, levels[i], 1)


@cuda.jit
def hist_racy(levels, hist):
    i = cuda.grid(1)
    if i < levels.size:
        hist[levels[i]] += 1


@cuda.jit
def hist_no_guard(levels, hist):
    i = cuda.grid(1)
    cuda.atomic.add(hist, levels[i], 1)


@cuda.jit
def hist_index_not_level(levels, hist):
    i = cuda.grid(1)
    if i < hist.size:
        cuda.atomic.add(hist, i, 1)


@cuda.jit
def hist_adds_level(levels, hist):
    i = cuda.grid(1)
    if i < levels.size:
        cuda.atomic.add(hist, levels[i], levels[i])


# ---------------- 03-hist-private
BINS = lesson03.BINS


@cuda.jit
def private_ok(levels, hist):
    local = cuda.shared.array(BINS, int32)
    t = cuda.threadIdx.x
    for b in range(t, BINS, cuda.blockDim.x):
        local[b] = 0
    cuda.syncthreads()
    i = cuda.grid(1)
    if i < levels.size:
        cuda.atomic.add(local, levels[i], 1)
    cuda.syncthreads()
    for b in range(t, BINS, cuda.blockDim.x):
        cuda.atomic.add(hist, b, local[b])


@cuda.jit
def private_no_zero_barrier(levels, hist):
    local = cuda.shared.array(BINS, int32)
    t = cuda.threadIdx.x
    for b in range(t, BINS, cuda.blockDim.x):
        local[b] = 0
    i = cuda.grid(1)
    if i < levels.size:
        cuda.atomic.add(local, levels[i], 1)
    cuda.syncthreads()
    for b in range(t, BINS, cuda.blockDim.x):
        cuda.atomic.add(hist, b, local[b])


@cuda.jit
def private_no_merge_barrier(levels, hist):
    local = cuda.shared.array(BINS, int32)
    t = cuda.threadIdx.x
    for b in range(t, BINS, cuda.blockDim.x):
        local[b] = 0
    cuda.syncthreads()
    i = cuda.grid(1)
    if i < levels.size:
        cuda.atomic.add(local, levels[i], 1)
    for b in range(t, BINS, cuda.blockDim.x):
        cuda.atomic.add(hist, b, local[b])


@cuda.jit
def private_global_atomics(levels, hist):     # right counts, one global atomic per element
    local = cuda.shared.array(BINS, int32)
    t = cuda.threadIdx.x
    for b in range(t, BINS, cuda.blockDim.x):
        local[b] = 0
    cuda.syncthreads()
    i = cuda.grid(1)
    if i < levels.size:
        cuda.atomic.add(hist, levels[i], 1)


@cuda.jit
def private_no_shared(levels, hist):          # right counts, BINS atomics per block, but no shared memory
    if cuda.threadIdx.x == 0:
        local = cuda.local.array(BINS, int32)
        for b in range(BINS):
            local[b] = 0
        start = cuda.blockIdx.x * cuda.blockDim.x
        for i in range(start, min(start + cuda.blockDim.x, levels.size)):
            local[levels[i]] += 1
        for b in range(BINS):
            cuda.atomic.add(hist, b, local[b])


@cuda.jit
def private_zero_own_bin(levels, hist):       # local[t] = 0: too few bins zeroed with 16 threads
    local = cuda.shared.array(BINS, int32)
    t = cuda.threadIdx.x
    if t < BINS:
        local[t] = 0
    cuda.syncthreads()
    i = cuda.grid(1)
    if i < levels.size:
        cuda.atomic.add(local, levels[i], 1)
    cuda.syncthreads()
    for b in range(t, BINS, cuda.blockDim.x):
        cuda.atomic.add(hist, b, local[b])


@cuda.jit
def private_zero_unguarded(levels, hist):     # local[t] = 0 with 128 threads: past the 32 bins
    local = cuda.shared.array(BINS, int32)
    t = cuda.threadIdx.x
    local[t] = 0
    cuda.syncthreads()
    i = cuda.grid(1)
    if i < levels.size:
        cuda.atomic.add(local, levels[i], 1)
    cuda.syncthreads()
    for b in range(t, BINS, cuda.blockDim.x):
        cuda.atomic.add(hist, b, local[b])


@cuda.jit
def private_merge_own_bin(levels, hist):      # thread t merges bin t only: bins 16.. lost with 16 threads
    local = cuda.shared.array(BINS, int32)
    t = cuda.threadIdx.x
    for b in range(t, BINS, cuda.blockDim.x):
        local[b] = 0
    cuda.syncthreads()
    i = cuda.grid(1)
    if i < levels.size:
        cuda.atomic.add(local, levels[i], 1)
    cuda.syncthreads()
    if t < BINS:
        cuda.atomic.add(hist, t, local[t])


@cuda.jit
def private_plain_merge(levels, hist):        # hist[b] += local[b]: blocks race on the global bins
    local = cuda.shared.array(BINS, int32)
    t = cuda.threadIdx.x
    for b in range(t, BINS, cuda.blockDim.x):
        local[b] = 0
    cuda.syncthreads()
    i = cuda.grid(1)
    if i < levels.size:
        cuda.atomic.add(local, levels[i], 1)
    cuda.syncthreads()
    for b in range(t, BINS, cuda.blockDim.x):
        hist[b] += local[b]


@cuda.jit
def private_every_thread_merges(levels, hist):   # each thread adds all the bins: counts times the block
    local = cuda.shared.array(BINS, int32)
    t = cuda.threadIdx.x
    for b in range(t, BINS, cuda.blockDim.x):
        local[b] = 0
    cuda.syncthreads()
    i = cuda.grid(1)
    if i < levels.size:
        cuda.atomic.add(local, levels[i], 1)
    cuda.syncthreads()
    for b in range(BINS):
        cuda.atomic.add(hist, b, local[b])


@cuda.jit
def private_no_guard(levels, hist):
    local = cuda.shared.array(BINS, int32)
    t = cuda.threadIdx.x
    for b in range(t, BINS, cuda.blockDim.x):
        local[b] = 0
    cuda.syncthreads()
    i = cuda.grid(1)
    cuda.atomic.add(local, levels[i], 1)
    cuda.syncthreads()
    for b in range(t, BINS, cuda.blockDim.x):
        cuda.atomic.add(hist, b, local[b])


@cuda.jit
def private_guard_around_all(levels, hist):   # the guard skips the barriers in the last block
    local = cuda.shared.array(BINS, int32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    if i < levels.size:
        for b in range(t, BINS, cuda.blockDim.x):
            local[b] = 0
        cuda.syncthreads()
        cuda.atomic.add(local, levels[i], 1)
        cuda.syncthreads()
        for b in range(t, BINS, cuda.blockDim.x):
            cuda.atomic.add(hist, b, local[b])


def check(ex_id, obj):
    for mod in (lesson01, lesson02, lesson03):
        if ex_id in mod.CHECKS:
            return mod.CHECKS[ex_id][1](obj)
    raise KeyError(ex_id)


# exercise id -> (stub, solution, [(wrong answer, words the diagnosis must contain)])
CASES = {
    "01-which-element": (None, 261, [
        (642, "swapped"), (7, "multiplied"), (10, "block * block_size"), (133, "numbered from 0"),
        (389, "third block"), (517, "not 256"), (260, "thread 5"), (300, "step by step"), ("261", "number")]),
    "01-blocks": (None, 4, [
        (3, "Round up"), (3.90625, "round it up"), (1024, "threads"), (1000, "elements"), (5, "one whole block"),
        (256, "block size")]),
    "01-saxpy": (stub_kernel4, saxpy_ok, [
        (saxpy_no_loop, "cuda.gridsize(1)"), (saxpy_no_guard, "outside the array"), (saxpy_swapped, "swapped"),
        (saxpy_block_stride, "not by the block size"), (saxpy_step_one, "not by the block size or by 1"),
        (saxpy_thread_only, "cuda.grid(1)"), (saxpy_into_y, "changed y")]),
    "01-grayscale": (stub_kernel, gray_ok, [
        (gray_no_guard, "outside the array"), (gray_half_guard, "col < gray.shape[1]"),
        (gray_swapped_axes, "col, row = cuda.grid(2)"), (gray_bgr, "wrong order"), (gray_mean, "plain mean")]),
    "02-copy2d": (stub_kernel, copy2d_ok, [
        (copy2d_uncoalesced, "coalescing 25%"), (copy2d_no_guard, "outside the array"),
        (copy2d_transposed, "transpose")]),
    "02-col-sums": (stub_kernel, col_sums_ok, [
        (col_sums_rows, "row sums"), (col_sums_no_guard, "outside the array"), (col_sums_skip_first, "row 0"),
        (col_sums_float64, "float64 accumulation: `total = 0.0`"),
        (col_sums_float_call, "float64 accumulation: `total = float(0)`"),
        (col_sums_int_start, "float64 accumulation: `total = 0`")]),
    "02-intensity": (None, 2 / 12, [
        (0.25, "write of out"), (1 / 12, "half the answer"), (2 / 24, "float64"), (6, "upside down"),
        (2 / 3, "bytes"), (0.5, "reads x[i] and y[i]")]),
    "03-atomic-count": (None, 3907, [
        (1_000_000, "one atomic per element"), (3906, "rounds up"), (3906.25, "whole number"),
        (256, "only thread 0"), (8, "tree steps"), (1, "one atomic per block")]),
    "03-block-sums": (stub_kernel, block_sums_ok, [
        (block_sums_one_each, "never read"), (block_sums_block_stride, "not the number of threads in a block"),
        (block_sums_chunks, "grid-stride"), (block_sums_fixed_count, "while the index is below x.size"),
        (block_sums_float64, "float64 accumulation"),
        (block_sums_no_loop_barrier, "race"), (block_sums_no_load_barrier, "after storing"),
        (block_sums_barrier_in_if, "outside `if t < step:`"),
        (block_sums_every_thread_writes, "t == 0"), (block_sums_step_too_big, "TPB // 2"),
        (block_sums_global_index, "never written"),
        (block_sums_empty_block_skips, "the sum is then 0")]),
    "03-hist-atomic": (stub_kernel, hist_ok, [
        (hist_racy, "cuda.atomic.add(hist, levels[i], 1)"), (hist_no_guard, "outside the array"),
        (hist_index_not_level, "the bin is levels[i]"), (hist_adds_level, "add 1")]),
    "03-hist-private": (stub_kernel, private_ok, [
        (private_no_zero_barrier, "barrier after zeroing is missing"),
        (private_no_merge_barrier, "barrier before the merge is missing"),
        (private_global_atomics, "at most 32 per block"), (private_no_shared, "uses no shared memory"),
        (private_zero_own_bin, "fewer than the 32 bins"), (private_zero_unguarded, "loop over the bins"),
        (private_merge_own_bin, "never merged"), (private_plain_merge, "one cuda.atomic.add"),
        (private_every_thread_merges, "not every thread every bin"), (hist_racy, "Threads of one block race"),
        (private_no_guard, "missing guard"), (private_guard_around_all, "reach both barriers")]),
}


@pytest.mark.parametrize("ex_id", CASES)
def test_stub_fails(ex_id):
    ok, msg = check(ex_id, CASES[ex_id][0])
    assert not ok and msg


@pytest.mark.parametrize("ex_id", CASES)
def test_solution_passes(ex_id):
    ok, msg = check(ex_id, CASES[ex_id][1])
    assert ok is True and (msg == "" or re.search(r"\d+ launch(es)? checked under the tracer$", msg)), msg


WRONG = [(ex_id, i) for ex_id, case in CASES.items() for i in range(len(case[2]))]


@pytest.mark.parametrize("ex_id,i", WRONG, ids=[f"{e}-{getattr(c[2][i][0], '__name__', c[2][i][0])}"
                                                  for e, c in CASES.items() for i in range(len(c[2]))])
def test_wrong_answer_is_diagnosed(ex_id, i):
    wrong, words = CASES[ex_id][2][i]
    ok, msg = check(ex_id, wrong)
    assert not ok
    assert words in msg, msg


def test_every_exercise_has_a_bank():
    ids = set(lesson01.CHECKS) | set(lesson02.CHECKS) | set(lesson03.CHECKS)
    assert ids == set(CASES)


def test_col_sums_float32_starts_pass():
    """float32(0.0) and np.float32(0) are float32 starts: no float64 alarm."""
    assert check("02-col-sums", col_sums_np_float32) == (True, "2 launches checked under the tracer")
    assert check("02-col-sums", col_sums_ok) == (True, "2 launches checked under the tracer")
