"""Exercises of notebook 05, matrix multiply II: the shared-memory tiled kernel, a 1D register-blocked
kernel, and bank conflicts of a strided warp.

Kernels run under the tracer on a problem that is a multiple of the tile and on a ragged one. Missing
barriers show up as races on shared memory, swapped tile indices are recognised by reproducing their
result with NumPy, a tile count that rounds down by the part of the sum it leaves out, and a float64
accumulator from the source.
"""
from __future__ import annotations

import inspect
import math
import re

import numpy as np

from gpuviz.exercises.check import FunctionExercise
from gpuviz.exercises.lesson01 import first_problem, mismatch, run_traced
from gpuviz.exercises.lesson04 import float64_message

SEED = 505
BARRIERS = ("missing barrier: two threads of a block touched the same shared-memory element between two "
            "cuda.syncthreads(). A tiled kernel needs two per step: one after loading the tiles (before anyone "
            "reads them) and one after the multiply-add loop (before the next step overwrites them).")


def _tile_transposed(X, T):
    """X with each T x T tile transposed in place (X's sides are multiples of T)."""
    r, c = X.shape
    return X.reshape(r // T, T, c // T, T).transpose(0, 3, 2, 1).reshape(r, c)


def _problems(t, where):
    p = first_problem(t)
    if p is None:
        return None
    if p.kind == "race" and p.array in t.arrays and t.arrays[p.array].space == "shared":
        return f"{where}: {BARRIERS} The tracer saw: {p.message}"
    if p.kind == "divergent_barrier":
        return (f"{where}: a barrier that not every thread reaches: {p.message} Every thread of the block must "
                "take part in every step, loading zeros past the edge; only the final write of C is guarded.")
    if p.kind == "out_of_bounds" and p.array in t.arrays and t.arrays[p.array].space == "shared":
        return (f"{where}: {p.message} An index past the end of a shared tile: the tile's shape and the block's "
                "threads must agree (see the sizes in the text), and each index must stay inside its dimension.")
    if p.kind == "out_of_bounds":
        return (f"{where}: {p.message} The last tile sticks out past the edge of A or B when a side is not a "
                "multiple of the tile: guard each load (`if row < A.shape[0] and k < A.shape[1]:`) and store "
                "float32(0.0) in the tile otherwise, and guard the write of C.")
    return f"{where}: {p.message}"


def _uses_shared(t) -> bool:
    return any(b.space == "shared" for b in t.arrays.values())


def _run_matmul(kernel, rng, M, K, N, grid, block, name):
    A = rng.standard_normal((M, K)).astype(np.float32)
    B = rng.standard_normal((K, N)).astype(np.float32)
    C = np.full((M, N), np.nan, np.float32)
    where = f"{name}: A {M}x{K} @ B {K}x{N}, launched [{grid}, {block}]"
    t, err = run_traced(kernel, grid, block, A, B, C)
    return A, B, C, t, err, where


def tiled(kernel, tile=16):
    rng = np.random.default_rng(SEED)
    T = int(tile)
    block = (T, T)
    for M, K, N in ((2 * T, 2 * T, 2 * T), (T + 4, 2 * T + 5, T + 9)):
        grid = (math.ceil(N / T), math.ceil(M / T))
        A, B, C, t, err, where = _run_matmul(kernel, rng, M, K, N, grid, block, "matmul_tiled")
        if err:
            return False, err
        why = _problems(t, where)
        if why:
            return False, why
        A64, B64 = A.astype(np.float64), B.astype(np.float64)
        want = A64 @ B64
        if np.isnan(C).any():
            return False, (f"{where}: {int(np.isnan(C).sum())} of {C.size} elements of C were never written: "
                           "every thread writes C[row, col] (guarded) after the loop over tiles.")
        if not np.allclose(C, want, rtol=1e-4, atol=1e-4):
            if M % T == 0 and K % T == 0 and N % T == 0:
                for a, b, which in ((_tile_transposed(A64, T), B64, "A"), (A64, _tile_transposed(B64, T), "B"),
                                    (_tile_transposed(A64, T), _tile_transposed(B64, T), "A and B")):
                    if np.allclose(C, a @ b, rtol=1e-4, atol=1e-4):
                        return False, (f"{where}: swapped tile indices: the tile of {which} is used transposed. "
                                       "Thread (tx, ty) stores sA[ty, tx] = A[row, t*TILE + tx] and "
                                       "sB[ty, tx] = B[t*TILE + ty, col], and the sum reads sA[ty, k] * sB[k, tx].")
            Kf = (K // T) * T
            if Kf < K and np.allclose(C, A64[:, :Kf] @ B64[:Kf], rtol=1e-4, atol=1e-4):
                return False, (f"{where}: the last, partial tile is left out: K = {K} needs {math.ceil(K / T)} tiles of "
                               f"{T}, not {K // T}. Round the number of tiles up: (A.shape[1] + TILE - 1) // TILE.")
            return False, f"{where}: " + mismatch(C, want.astype(np.float32), "C", rtol=1e-4, atol=1e-4)
        if not _uses_shared(t):
            return False, ("the values are right, but the kernel uses no shared memory: load each tile of A and B "
                           "into cuda.shared.array((TILE, TILE), float32) and compute from there.")
    why = float64_message(kernel)
    return (False, why) if why else (True, "")


def regblock1d(kernel, bm=32, bn=32, bk=8, tm=4):
    rng = np.random.default_rng(SEED + 1)
    block = (bn, bm // tm)
    for M, K, N in ((bm, 2 * bk, bn), (bm + 13, 2 * bk + 3, 2 * bn + 6)):
        grid = (math.ceil(N / bn), math.ceil(M / bm))
        A, B, C, t, err, where = _run_matmul(kernel, rng, M, K, N, grid, block, "matmul_regblock1d")
        if err:
            return False, err
        why = _problems(t, where)
        if why:
            return False, why
        A64, B64 = A.astype(np.float64), B.astype(np.float64)
        want = A64 @ B64
        if np.isnan(C).any():
            nan = np.isnan(C)
            return False, (f"{where}: {int(nan.sum())} of {C.size} elements of C were never written. The block has "
                           f"{block[0]}x{block[1]} threads for a {bm}x{bn} tile of C: each thread writes TM = {tm} "
                           f"values, rows ty*TM ... ty*TM + TM - 1 of column tx.")
        if not np.allclose(C, want, rtol=1e-4, atol=1e-4):
            Kf = (K // bk) * bk
            if Kf < K and np.allclose(C, A64[:, :Kf] @ B64[:Kf], rtol=1e-4, atol=1e-4):
                return False, (f"{where}: the last, partial step of BK = {bk} is left out: step k0 over "
                               "range(0, A.shape[1], BK) and load zeros past the edge.")
            return False, f"{where}: " + mismatch(C, want.astype(np.float32), "C", rtol=1e-4, atol=1e-4)
        if not _uses_shared(t):
            return False, "the values are right, but no shared memory is used: stage the A and B tiles in shared arrays."
    why = float64_message(kernel)
    if why:
        return False, why
    try:
        from gpuviz.tracer.kernelsource import python_function
        src = inspect.getsource(python_function(kernel))
    except (OSError, TypeError):
        src = ""
    if re.search(r"local\.array\([^)]*float64", src):
        return False, ("float64 accumulation: the local array of sums is float64; make it "
                       "cuda.local.array(TM, float32).")
    return True, ""


def _bank_ways(stride):
    return 1 if stride == 0 else math.gcd(stride, 32)


def _cases_stride(rng):
    return [(s,) for s in (0, 1, 2, 3, 4, 6, 8, 16, 32, 33, 48, 64, 65, 96, 17)]


bank_ways = FunctionExercise(
    "bank_ways", _bank_ways, _cases_stride, mistakes=[
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
    "05-tiled": (3, tiled),
    "05-regblock": (3, regblock1d),
    "05-bank-ways": (1, bank_ways),
}
