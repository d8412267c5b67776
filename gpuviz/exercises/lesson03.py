"""Exercises of notebook 03, parallel patterns: atomics count, block sums by a shared-memory tree,
an atomic histogram. Kernels run under the tracer, which finds races and missing barriers.
"""
from __future__ import annotations

import numpy as np

from gpuviz.exercises.check import Case, KernelExercise, number_check

SEED = 303
TPB = 128       # the notebook's block size: block_sums uses cuda.shared.array(TPB, float32)
BINS = 32


def _atomic_count(value):
    return number_check(value, 3907, {
        1_000_000: "one atomic per element is sum_atomic (stage 1); sum_tree adds one number per block.",
        3906: "1,000,000 / 256 = 3906.25 rounds up: the last, partly filled block adds its sum too.",
        3906.25: "a number of blocks is a whole number: round 1,000,000 / 256 up.",
        256: "256 is the number of threads per block; only thread 0 of each block does the atomic.",
        8: "8 is the number of tree steps (log2 256); the atomics are one per block.",
        7: "7 is about the number of tree steps; the atomics are one per block.",
        1: "each block adds its own sum: one atomic per block, not one in total.",
    }, "tree_atomics")


def block_sums_reference(x, partial):
    padded = np.zeros(partial.size * TPB, np.float64)
    padded[:x.size] = x
    return {"partial": padded.reshape(partial.size, TPB).sum(axis=1)}


def _block_sums_cases(rng):
    for n in (3 * TPB + 57, 2 * TPB):
        grid = (n + TPB - 1) // TPB
        args = (rng.random(n, dtype=np.float32), np.full(grid, np.nan, np.float32))
        yield Case(args, grid, TPB, f"n = {n}, {grid} blocks of {TPB}", shape=(n,))


def _written_twice(run):
    if run.problem is not None:
        return None
    writes = run.trace.counts("partial", "write") + run.trace.counts("partial", "atomic")
    if (writes > 1).any():
        return (f"partial[{int(np.argmax(writes))}] was written {int(writes.max())} times: only thread 0 "
                "of each block should write the block's sum (`if t == 0:`).")
    if np.isnan(run.after("partial")).any() and run.trace.counts("partial", "atomic").any():
        return ("partial starts out with garbage, so adding to it with an atomic gives garbage: "
                "write the block's sum, partial[cuda.blockIdx.x] = cache[0].")
    return None


_block_sums = KernelExercise(
    "block_sums", reference=block_sums_reference, cases=_block_sums_cases, seed=SEED,
    diagnose=[_written_twice],
    hints={"race:partial": "Only thread 0 of each block should write the block's sum (`if t == 0:`).",
           "race": "A race in shared memory usually means a missing cuda.syncthreads(): one after loading "
                   "cache[t], and one at the end of every step of the loop.",
           "divergent_barrier": "Every thread of the block must reach the same cuda.syncthreads(): put it outside "
                                "`if t < step:`, in the loop body.",
           "out_of_bounds": "Threads past the end of x load 0: cache[t] = x[i] if i < x.size else float32(0.0); "
                            "and the first step is TPB // 2.",
           "unwritten": "Block b writes its sum to partial[cuda.blockIdx.x]."})


def hist_reference(levels, hist):
    return {"hist": np.bincount(levels, minlength=BINS)}


def _hist_cases(rng):
    n, tpb = 700, 128
    levels = np.minimum(rng.geometric(0.2, n) - 1, BINS - 1).astype(np.int32)   # a few popular bins
    grid = (n + tpb - 1) // tpb
    yield Case((levels, np.zeros(BINS, np.int32)), grid, tpb, f"{n} values, {grid} blocks of {tpb}", shape=(n,))


def _counts_threads(run):
    hist = run.after("hist")
    if run.problem is None and hist.sum() != run.before("levels").size and (hist <= 1).all():
        return "hist[i] counts thread i; the bin is levels[i]."
    return None


_hist_atomic = KernelExercise(
    "hist_atomic", reference=hist_reference, cases=_hist_cases, seed=SEED + 1, rtol=0, atol=0,
    diagnose=[_counts_threads],
    hints={"race": "Use cuda.atomic.add(hist, levels[i], 1): it reads, adds and writes as one step."},
    mistakes=[(lambda levels, hist: {"hist": np.bincount(levels, weights=levels, minlength=BINS).astype(np.int32)},
               "each value adds its own level to its bin; a histogram counts: add 1.")])


CHECKS = {
    "03-atomic-count": (1, _atomic_count),
    "03-block-sums": (3, _block_sums),
    "03-hist-atomic": (2, _hist_atomic),
}
