"""Exercises of notebook 02, memory and transfers: a coalesced 2D copy, column sums, arithmetic intensity.

The kernels run under the tracer, which also measures their coalescing: a correct but strided
kernel is rejected with the sectors per request it needed. Column sums are asked in float32, so the
source is read for a float64 accumulator, as in notebook 04.
"""
from __future__ import annotations

import numpy as np

from gpuviz.exercises.check import float64_message
from gpuviz.exercises.lesson01 import first_problem, mismatch, number_check, run_traced

SEED = 202


def copy2d(kernel):
    rng = np.random.default_rng(SEED)
    for h, w in ((48, 48), (40, 70)):                 # square first (coalescing), then ragged edges (guards)
        ok, msg = _copy2d_once(kernel, rng, h, w)
        if not ok:
            return ok, msg
    return True, ""


def _copy2d_once(kernel, rng, h, w):
    src = rng.random((h, w), dtype=np.float32)
    dst = np.full((h, w), np.nan, dtype=np.float32)
    grid, block = ((w + 15) // 16, (h + 15) // 16), (16, 16)
    t, err = run_traced(kernel, grid, block, src, dst)
    if err:
        return False, err
    p = first_problem(t)
    if p is not None:
        return False, (f"launch on a {h}x{w} array with blocks of 16x16: {p.message} "
                       "With col, row = cuda.grid(2), guard with row < dst.shape[0] and col < dst.shape[1].")
    if np.isnan(dst).any():
        return False, (f"{int(np.isnan(dst).sum())} of {h * w} elements were never written. cuda.grid(2) returns "
                       "(x, y) = (column, row); the launch has x along the columns.")
    if not np.array_equal(dst, src):
        if dst.shape == src.T.shape or np.array_equal(dst[:min(h, w), :min(h, w)], src.T[:min(h, w), :min(h, w)]):
            return False, "dst holds the transpose of src: read src[row, col], not src[col, row]."
        return False, mismatch(dst, src, "dst")
    m = t.metrics.get("src", {})
    if m.get("efficiency", 1.0) < 0.5:
        return False, (f"the values are right, but each warp request to src touched {m['sectors_per_request']:.0f} "
                       f"sectors (coalescing {m['efficiency']:.0%}): neighbouring threads (x) walk down a column. "
                       "Let x index the column: `col, row = cuda.grid(2)`.")
    return True, ""


def col_sums(kernel):
    rng = np.random.default_rng(SEED + 1)
    for rows, cols, tpb in ((17, 70, 32), (50, 40, 32)):
        a = rng.random((rows, cols), dtype=np.float32)
        out = np.full(cols, np.nan, dtype=np.float32)
        grid = (cols + tpb - 1) // tpb
        t, err = run_traced(kernel, grid, tpb, a, out)
        if err:
            return False, err
        p = first_problem(t)
        if p is not None:
            return False, f"a {rows}x{cols} matrix, {grid} blocks of {tpb}: {p.message}"
        want = a.sum(axis=0, dtype=np.float64)
        filled = ~np.isnan(out)
        if np.allclose(out[:rows][filled[:rows]], a.sum(axis=1)[:cols][filled[:rows]], rtol=1e-5) \
                and not np.allclose(out, want, rtol=1e-5):
            return False, "those are row sums: thread c must add up column c, a[r, c] for every row r."
        if (~filled).any():
            return False, f"{int((~filled).sum())} of {cols} column sums were never written (one thread per column)."
        if np.allclose(out, want - a[0], rtol=1e-5):
            return False, "row 0 is left out of every sum: loop over range(a.shape[0])."
        if not np.allclose(out, want, rtol=1e-5):
            return False, mismatch(out, want.astype(np.float32), "out")
        m = t.metrics.get("a", {})
        if m.get("efficiency", 1.0) < 0.5:
            return False, (f"the sums are right, but each warp request to a touched {m['sectors_per_request']:.0f} "
                           "sectors: make neighbouring threads read neighbouring columns of one row, a[r, c].")
    why = float64_message(kernel)
    if why:
        return False, why
    return True, ""


def intensity(value):
    return number_check(value, 1 / 6, {
        0.25: "2 FLOPs / 8 bytes leaves out the write of out[i]: it moves 4 bytes too.",
        1 / 12: "that is half the answer: SAXPY does 2 FLOPs per element (a multiply and an add) on 4-byte "
                "float32 values; 1/12 counts one FLOP, or 8-byte (float64) elements.",
        6.0: "that is bytes per FLOP, upside down: intensity is FLOPs divided by bytes.",
        2 / 3: "2 / 3 counts elements (x, y, out) instead of bytes: each float32 is 4 bytes.",
        0.5: "2 / 4 counts only one 4-byte value per element: SAXPY reads x[i] and y[i] and writes out[i].",
    }, "saxpy_intensity")


CHECKS = {
    "02-copy2d": (2, copy2d),
    "02-col-sums": (2, col_sums),
    "02-intensity": (1, intensity),
}
