"""Exercises of notebook 03, parallel patterns: atomics count, block sums with thread coarsening (a
grid-stride loop into a register, then a shared-memory tree), an atomic histogram, and a privatized
histogram in shared memory. Kernels run under the tracer, which finds races and missing barriers.
"""
from __future__ import annotations

import numpy as np

from gpuviz.exercises.check import Case, KernelExercise, at_most_atomics, number_check, uses_shared

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


# ---------------------------------------------------------------- 03-block-sums: coarsened block sums

def _owner_block(n, blocks):
    """The block whose grid-stride loop reads each x[i]: thread g of the grid reads x[g], x[g + G], ..."""
    return (np.arange(n) % (blocks * TPB)) // TPB


def block_sums_reference(x, partial):
    """partial[b]: the sum of the elements that block b's threads read in a grid-stride loop over
    partial.size blocks of TPB threads."""
    return {"partial": np.bincount(_owner_block(x.size, partial.size), weights=x.astype(np.float64),
                                   minlength=partial.size)}


def _block_sums_cases(rng):
    # far fewer threads than elements (a fixed, small grid), a size that is no multiple of the grid, and
    # a grid with more threads than elements (the last block reads nothing and must write 0)
    for blocks, n in ((4, 4 * TPB * 5 + 77), (3, 6 * TPB + 1), (3, 200)):
        args = (rng.random(n, dtype=np.float32), np.full(blocks, np.nan, np.float32))
        yield Case(args, blocks, TPB, f"block_sums[{blocks}, {TPB}] on n = {n} ({blocks * TPB} threads)",
                   shape=(n,))


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


def _reads_of_x(run):
    """Every element of x is read exactly once, by the block whose grid-stride loop reaches it."""
    if run.problem is not None or run.close("partial", run.want["partial"], 1e-5, 1e-6):
        return None
    reads = run.trace.counts("x", "read")
    n, threads = reads.size, run.nthreads
    never = np.flatnonzero(reads == 0)
    if never.size:
        return (f"{never.size} of the {n} elements of x were never read, the first x[{int(never[0])}]: the grid "
                f"has only {threads} threads, so each thread must keep adding elements, stepping by the number of "
                "threads in the whole grid (cuda.gridsize(1)), until it is past the end of x.")
    if reads.max() > 1:
        k = int(np.argmax(reads))
        return (f"x[{k}] was read {int(reads[k])} times: every element must be added once, by one thread. "
                f"The stride of the loop is the number of threads in the whole grid, cuda.gridsize(1) = {threads}, "
                "not the number of threads in a block.")
    got, total = run.after("partial"), float(run.before("x").sum(dtype=np.float64))
    if np.isfinite(got).all() and np.isclose(got.sum(dtype=np.float64), total, rtol=1e-5):
        eff = run.trace.metrics.get("x", {}).get("efficiency")
        how = f" (the reads of x were {eff:.0%} coalesced)" if eff is not None else ""
        return ("the partial sums add up to the right total, but each block summed another share of x than "
                f"the grid-stride loop gives{how}. Thread g of the grid (cuda.grid(1)) adds x[g], then "
                "x[g + cuda.gridsize(1)], and so on: at each step the threads of a warp read neighbouring "
                "elements, one coalesced request, which contiguous chunks per thread are not.")
    return None


def _block_sums_race(run):
    p = run.problem
    if p is not None and p.interval == 0:           # before the first barrier: the stores raced the tree
        return ("The barrier after storing each thread's sum in the shared array is missing: the tree reads "
                "other threads' slots, so every thread must have stored its own first.")
    return ("A race in shared memory means a missing cuda.syncthreads(): one after loading (storing each thread's "
            "sum in cache[t]), and one at the end of every step of the tree.")


_block_sums = KernelExercise(
    "block_sums", reference=block_sums_reference, cases=_block_sums_cases, seed=SEED, float32=True,
    diagnose=[_written_twice, _reads_of_x],
    hints={"race:partial": "Only thread 0 of each block should write the block's sum (`if t == 0:`).",
           "race": _block_sums_race,
           "divergent_barrier": "Every thread of the block must reach the same cuda.syncthreads(): put it outside "
                                "`if t < step:`, in the loop body.",
           "out_of_bounds:x": "Step through x while the index is below x.size (a while loop), not a fixed number "
                              "of times: the last threads have one element fewer.",
           "out_of_bounds": "The shared array has TPB slots and the tree's first step is TPB // 2.",
           "unwritten": "Block b writes its sum to partial[cuda.blockIdx.x], also when its threads read nothing "
                        "(the sum is then 0)."})


# ---------------------------------------------------------------- 03-hist-atomic, 03-hist-private

def hist_reference(levels, hist):
    return {"hist": np.bincount(levels, minlength=BINS)}


def _levels(rng, n):
    return np.minimum(rng.geometric(0.2, n) - 1, BINS - 1).astype(np.int32)   # a few popular bins


def _hist_cases(rng):
    n, tpb = 700, 128
    grid = (n + tpb - 1) // tpb
    yield Case((_levels(rng, n), np.zeros(BINS, np.int32)), grid, tpb, f"{n} values, {grid} blocks of {tpb}",
               shape=(n,))


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


def _hist_private_cases(rng):
    # the notebook's block, a block with fewer threads than BINS and one with more; sizes that are no
    # multiple of the block, so the last block is partly empty
    for tpb, n in ((128, 700), (16, 333), (256, 1000), (64, 150)):
        grid = (n + tpb - 1) // tpb
        yield Case((_levels(rng, n), np.zeros(BINS, np.int32)), grid, tpb,
                   f"hist_private[{grid}, {tpb}] on {n} values", shape=(n,))


def _private_race(run):
    """Which of the two barriers is missing: the shared histogram's race says it by the two accesses."""
    p = run.problem
    ops = {p.op, next((w for w, past in (("write", " wrote "), ("read", " read "), ("atomic", " atomically "))
                       if past in p.message.split(", which ", 1)[-1]), None)}
    if ops == {"write", "atomic"}:
        return ("The barrier after zeroing is missing: a thread counted into a bin of the shared histogram "
                "that another thread had not zeroed yet (or zeroed it after the count). Every bin must be zero "
                "before any thread counts: cuda.syncthreads() between zeroing and counting.")
    if ops == {"atomic", "read"}:
        return ("The barrier before the merge is missing: a thread read a bin of the shared histogram to add "
                "it to hist while other threads of the block were still counting into it. "
                "cuda.syncthreads() between counting and merging.")
    return "The shared histogram needs two barriers: after zeroing it, and after counting, before the merge."


def _global_race(run):
    p = run.problem
    if p.other is not None and p.other[0] != p.block:
        return ("Blocks merge into the same global bins, and blocks cannot synchronize with each other: each "
                "block's addition of a bin to hist must be one cuda.atomic.add.")
    return ("Threads of one block race on hist: count each element into the block's shared histogram with a "
            "shared-memory atomic, and touch hist only in the merge.")


def _private_diagnose(run):
    if run.problem is not None:
        return None
    tpb = int(np.prod(run.block))
    unwritten = [p for p in run.trace.problems if p.kind == "uninitialized_read" and p.array != "hist"]
    if unwritten:
        p = unwritten[0]
        few = (f" This block has {tpb} threads, fewer than the {BINS} bins, so zeroing one bin per thread "
               "leaves bins out: each thread must zero several bins, stepping by the block size."
               if tpb < BINS else "")
        return (f"{p.array}[{', '.join(map(str, p.index))}] was counted into or read before any thread zeroed it: "
                f"shared memory starts out with garbage.{few}")
    if run.close("hist", run.want["hist"], 0, 0):
        return None
    if "hist" in run.trace.arrays:
        merged = run.trace.counts("hist", "atomic") + run.trace.counts("hist", "write")
        blocks = int(np.prod(run.griddim))
        if merged.sum() > BINS * blocks and not (run.trace.counts("levels", "read") == 0).any():
            return (f"{int(merged.sum())} additions to hist from {blocks} blocks, and wrong counts: each block "
                    f"merges each of its {BINS} bins once, the bins split among its threads, not every thread "
                    "every bin.")
        if tpb < BINS and merged[tpb:].sum() == 0:
            return (f"bins {tpb} to {BINS - 1} of hist were never merged: this block has {tpb} threads, fewer "
                    f"than the {BINS} bins, so one bin per thread leaves bins out; each thread must merge "
                    "several bins, stepping by the block size.")
    return None


_hist_private = KernelExercise(
    "hist_private", reference=hist_reference, cases=_hist_private_cases, seed=SEED + 2, rtol=0, atol=0,
    diagnose=[_counts_threads, _private_diagnose],
    hints={"race:hist": _global_race,
           "race": _private_race,
           "out_of_bounds:levels": "Only threads with an element count it; every thread, even one past the end, "
                                   "still helps zero and merge and reaches both barriers.",
           "divergent_barrier": "Guard only the counting: every thread of the block must reach both barriers, "
                                "also the threads of the last block that have no element.",
           "out_of_bounds": f"The shared histogram has BINS = {BINS} slots, and a block can have more threads "
                            "than that (or fewer): loop over the bins with a stride of the block size, in both "
                            "the zeroing and the merge."},
    requires=[at_most_atomics("hist", BINS, "Count each element into the block's shared histogram with a "
                                            "shared-memory atomic; only the merge touches hist, once per bin."),
              uses_shared("the counts are right, but the kernel uses no shared memory: the block's threads "
                          "count together into one cuda.shared.array(BINS, int32), with shared-memory atomics.")])


CHECKS = {
    "03-atomic-count": (1, _atomic_count),
    "03-block-sums": (3, _block_sums),
    "03-hist-atomic": (1, _hist_atomic),
    "03-hist-private": (3, _hist_private),
}
