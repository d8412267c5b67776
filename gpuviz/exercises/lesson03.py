"""Exercises of notebook 03, parallel patterns: atomics count, block sums by a shared-memory tree,
an atomic histogram. Kernels run under the tracer, which finds races and missing barriers.
"""
from __future__ import annotations

import numpy as np

from gpuviz.exercises.lesson01 import first_problem, mismatch, number_check, run_traced

SEED = 303
TPB = 128       # the notebook's block size: block_sums uses cuda.shared.array(TPB, float32)
BINS = 32


def atomic_count(value):
    return number_check(value, 3907, {
        1_000_000: "one atomic per element is sum_atomic (stage 1); sum_tree adds one number per block.",
        3906: "1,000,000 / 256 = 3906.25 rounds up: the last, partly filled block adds its sum too.",
        3906.25: "a number of blocks is a whole number: round 1,000,000 / 256 up.",
        256: "256 is the number of threads per block; only thread 0 of each block does the atomic.",
        8: "8 is the number of tree steps (log2 256); the atomics are one per block.",
        7: "7 is about the number of tree steps; the atomics are one per block.",
        1: "each block adds its own sum: one atomic per block, not one in total.",
    }, "tree_atomics")


def _reason(p):
    if p.kind == "race" and p.array == "partial":
        return " Only thread 0 of each block should write the block's sum (`if t == 0:`)."
    if p.kind == "race":
        return (" A race in shared memory usually means a missing cuda.syncthreads(): one after loading "
                "cache[t], and one at the end of every step of the loop.")
    if p.kind == "divergent_barrier":
        return (" Every thread of the block must reach the same cuda.syncthreads(): put it outside "
                "`if t < step:`, in the loop body.")
    if p.kind == "out_of_bounds":
        return (" Threads past the end of x load 0: cache[t] = x[i] if i < x.size else float32(0.0); "
                "and the first step is TPB // 2.")
    return ""


def block_sums(kernel):
    rng = np.random.default_rng(SEED)
    for n in (3 * TPB + 57, 2 * TPB):
        x = rng.random(n, dtype=np.float32)
        grid = (n + TPB - 1) // TPB
        partial = np.full(grid, np.nan, dtype=np.float32)
        t, err = run_traced(kernel, grid, TPB, x, partial)
        if err:
            return False, err
        p = first_problem(t)
        if p is not None:
            return False, f"n = {n}, {grid} blocks of {TPB}: {p.message}{_reason(p)}"
        writes = t.counts("partial", "write") + t.counts("partial", "atomic")
        if (writes > 1).any():
            return False, (f"partial[{int(np.argmax(writes))}] was written {int(writes.max())} times: only thread 0 "
                           "of each block should write the block's sum (`if t == 0:`).")
        padded = np.zeros(grid * TPB, np.float64)
        padded[:n] = x
        want = padded.reshape(grid, TPB).sum(axis=1)
        if np.isnan(partial).any():
            if t.counts("partial", "atomic").any():
                return False, ("partial starts out with garbage, so adding to it with an atomic gives garbage: "
                               "write the block's sum, partial[cuda.blockIdx.x] = cache[0].")
            return False, (f"{int(np.isnan(partial).sum())} of {grid} block sums were never written; block b "
                           "writes partial[cuda.blockIdx.x].")
        if not np.allclose(partial, want, rtol=1e-5):
            return False, mismatch(partial, want.astype(np.float32), "partial")
    return True, ""


def hist_atomic(kernel):
    rng = np.random.default_rng(SEED + 1)
    n, tpb = 700, 128
    levels = np.minimum(rng.geometric(0.2, n) - 1, BINS - 1).astype(np.int32)   # a few popular bins
    hist = np.zeros(BINS, dtype=np.int32)
    grid = (n + tpb - 1) // tpb
    t, err = run_traced(kernel, grid, tpb, levels, hist)
    if err:
        return False, err
    p = first_problem(t)
    if p is not None:
        extra = " Use cuda.atomic.add(hist, levels[i], 1): it reads, adds and writes as one step." \
            if p.kind == "race" else ""
        return False, f"{n} values, {grid} blocks of {tpb}: {p.message}{extra}"
    want = np.bincount(levels, minlength=BINS)
    if np.array_equal(hist, np.bincount(levels, weights=levels, minlength=BINS).astype(np.int32)) \
            and not np.array_equal(hist, want):
        return False, "each value adds its own level to its bin; a histogram counts: add 1."
    if hist.sum() != n and (hist <= 1).all():
        return False, "hist[i] counts thread i; the bin is levels[i]."
    if not np.array_equal(hist, want):
        return False, mismatch(hist, want, "hist", rtol=0, atol=0)
    return True, ""


CHECKS = {
    "03-atomic-count": (1, atomic_count),
    "03-block-sums": (3, block_sums),
    "03-hist-atomic": (2, hist_atomic),
}
