"""Exercises of notebook 05, matrix multiply II: the shared-memory tiled kernel, a 1D register-blocked
kernel, and bank conflicts of a strided warp.

Kernels run under the tracer on a problem that is a multiple of the tile and on a ragged one. Missing
barriers show up as races on shared memory, swapped tile indices are recognised by reproducing their
result with NumPy, a tile count that rounds down by the part of the sum it leaves out, and a float64
accumulator from the source.
"""
from __future__ import annotations

import math

import numpy as np

from gpuviz.exercises.check import Case, FunctionExercise, KernelExercise, tiled_reads

SEED = 505
HINTS = {
    "race": "A tiled kernel needs two barriers per step: one after loading the tiles (before anyone reads them) "
            "and one after the multiply-add loop (before the next step overwrites them).",
    "divergent_barrier": "Every thread of the block must take part in every step, loading zeros past the edge; "
                         "only the final write of C is guarded.",
}


def matmul_reference(A, B, C):
    return {"C": A.astype(np.float64) @ B.astype(np.float64)}


def _tile_transposed(X, T):
    """X with each T x T tile transposed in place (X's sides are multiples of T)."""
    r, c = X.shape
    return X.reshape(r // T, T, c // T, T).transpose(0, 3, 2, 1).reshape(r, c)


def _outside(run):
    """An index past a shared tile, or a load past the edge of A or B."""
    p = run.problem
    if p is None or p.kind != "out_of_bounds":
        return None
    if p.array in run.trace.arrays and run.trace.arrays[p.array].space == "shared":
        return (f"{p.message} An index past the end of a shared tile: the tile's shape and the block's threads "
                "must agree (see the sizes in the text), and each index must stay inside its dimension.")
    return (f"{p.message} The last tile sticks out past the edge of A or B when a side is not a multiple of the "
            "tile: guard each load (`if row < A.shape[0] and k < A.shape[1]:`) and store float32(0.0) in the "
            "tile otherwise, and guard the write of C.")


def _unfilled(load_steps: str, sum_step: str):
    """A step of the skeleton left empty: the tiles read but never loaded (the tracer fills shared memory
    with NaN), or loaded but never multiplied (C all zeros)."""
    def diagnose(run):
        if run.problem is not None or run.close("C", run.want["C"], 1e-4, 1e-4):
            return None
        unread = sorted({p.array for p in run.trace.problems if p.kind == "uninitialized_read"})
        if unread:
            return (f"the kernel reads {' and '.join(unread)}, which no thread of the block stored: shared memory "
                    f"starts with garbage on a GPU (NaN in the tracer). {load_steps} every thread stores one "
                    "element of each tile at every step, float32(0.0) past the edge, before the first barrier.")
        C, want = run.after("C"), run.want["C"]
        if run.written("C").all() and not np.any(C) and np.any(want):
            return (f"every element of C is 0: the running sums never grew. {sum_step} adds the products of the "
                    "two tiles between the barriers, at every step.")
        return None
    return diagnose


def _matmul_case(rng, M, K, N, grid, block, name):
    A = rng.standard_normal((M, K)).astype(np.float32)
    B = rng.standard_normal((K, N)).astype(np.float32)
    return Case((A, B, np.full((M, N), np.nan, np.float32)), grid, block,
                f"{name}: A {M}x{K} @ B {K}x{N}, launched [{grid}, {block}]", shape=(M, N))


def _tiled_cases(rng, tile=16):
    T = int(tile)
    for M, K, N in ((2 * T, 2 * T, 2 * T), (T + 4, 2 * T + 5, T + 9)):
        yield _matmul_case(rng, M, K, N, (math.ceil(N / T), math.ceil(M / T)), (T, T), "matmul_tiled")


def _short_sum(run, step, words):
    """The sum over k stops at the last whole step of `step`: a rounded-down tile count."""
    A, B = (run.before(n).astype(np.float64) for n in ("A", "B"))
    K = A.shape[1]
    Kf = (K // step) * step
    if run.problem is None and Kf < K and run.close("C", A[:, :Kf] @ B[:Kf], 1e-4, 1e-4):
        return words
    return None


def _tile_mistakes(run):
    """Swapped tile indices (a tile used transposed), or the last partial tile left out."""
    if run.problem is not None or run.close("C", run.want["C"], 1e-4, 1e-4):
        return None
    T = int(run.kw.get("tile", 16))
    A, B = (run.before(n).astype(np.float64) for n in ("A", "B"))
    (M, K), N = A.shape, B.shape[1]
    if M % T == 0 and K % T == 0 and N % T == 0:
        for a, b, which in ((_tile_transposed(A, T), B, "A"), (A, _tile_transposed(B, T), "B"),
                            (_tile_transposed(A, T), _tile_transposed(B, T), "A and B")):
            if run.close("C", a @ b, 1e-4, 1e-4):
                return (f"swapped tile indices: the tile of {which} is used transposed. Thread (tx, ty) stores "
                        "sA[ty, tx] = A[row, t*TILE + tx] and sB[ty, tx] = B[t*TILE + ty, col], and the sum "
                        "reads sA[ty, k] * sB[k, tx].")
    return _short_sum(run, T, f"the last, partial tile is left out: K = {K} needs {math.ceil(K / T)} tiles of {T}, "
                              f"not {K // T}. Round the number of tiles up: (A.shape[1] + TILE - 1) // TILE.")


_tiled = KernelExercise(
    "matmul_tiled", reference=matmul_reference, cases=_tiled_cases, seed=SEED, float32=True, rtol=1e-4, atol=1e-4,
    diagnose=[_outside, _unfilled("Step 4 (the loads):", "Step 6 (multiply-add)"), _tile_mistakes],
    hints=HINTS | {
        "unwritten": "Every thread writes C[row, col] (guarded) after the loop over tiles."},
    requires=[tiled_reads(lambda run: (run.kw.get("tile", 16),) * 3,
                          hint="Each tile of A and B goes into cuda.shared.array((TILE, TILE), float32), and the "
                               "multiply-add loop reads sA and sB only.")])


def _regblock_cases(rng, bm=32, bn=32, bk=8, tm=4):
    block = (bn, bm // tm)
    for M, K, N in ((bm, 2 * bk, bn), (bm + 13, 2 * bk + 3, 2 * bn + 6)):
        case = _matmul_case(rng, M, K, N, (math.ceil(N / bn), math.ceil(M / bm)), block, "matmul_regblock1d")
        case.hints = {"unwritten": f"The block has {block[0]}x{block[1]} threads for a {bm}x{bn} tile of C: each "
                                   f"thread writes TM = {tm} values, rows ty*TM ... ty*TM + TM - 1 of column tx."}
        yield case


def _regblock_short(run):
    if run.close("C", run.want["C"], 1e-4, 1e-4):
        return None
    bk = int(run.kw.get("bk", 8))
    return _short_sum(run, bk, f"the last, partial step of BK = {bk} is left out: step k0 over "
                               "range(0, A.shape[1], BK) and load zeros past the edge.")


_regblock1d = KernelExercise(
    "matmul_regblock1d", reference=matmul_reference, cases=_regblock_cases, seed=SEED + 1, float32=True,
    rtol=1e-4, atol=1e-4, hints=HINTS,
    diagnose=[_outside, _unfilled("Steps 2 and 3 (the loads):", "Step 5 (multiply-add)"), _regblock_short],
    requires=[tiled_reads(lambda run: (run.kw.get("bm", 32), run.kw.get("bn", 32), run.kw.get("bk", 8)),
                          hint="Stage the BM x BK tile of A and the BK x BN tile of B in shared arrays, and let "
                               "the multiply-add loop read sA and sB only.")])


def bank_ways_reference(stride):
    return 1 if stride == 0 else math.gcd(stride, 32)


def _cases_stride(rng):
    return [(s,) for s in (0, 1, 2, 3, 4, 6, 8, 16, 32, 33, 48, 64, 65, 96, 17)]


_bank_ways = FunctionExercise(
    "bank_ways", bank_ways_reference, _cases_stride, mistakes=[
        (lambda s: max(1, min(s, 32)), "the stride is not the number of ways: with stride 3, lane i hits bank "
                                       "3i mod 32, and those are all different (1-way). Look for the greatest "
                                       "common divisor of the stride and 32."),
        (lambda s: 1 if s == 0 else 32 // math.gcd(s, 32),
         "that is the number of DIFFERENT banks the warp uses; the ways are how many lanes share each one."),
        (lambda s: s % 32 or 32, "stride % 32 is the distance in banks, not the conflict degree: stride 3 puts "
                                 "every lane in its own bank."),
        (lambda s: math.gcd(s, 32), "stride 0: every lane reads the same word, a broadcast, which takes one pass."),
    ])


CHECKS = {
    "05-tiled": (3, _tiled),
    "05-regblock": (3, _regblock1d),
    "05-bank-ways": (1, _bank_ways),
}
