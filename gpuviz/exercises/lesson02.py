"""Exercises of notebook 02, memory and transfers: a coalesced 2D copy, column sums, arithmetic intensity.

The kernels run under the tracer, which also measures their coalescing: a correct but strided
kernel is rejected with the sectors per request it needed. Column sums are asked in float32, so the
source is read for a float64 accumulator, as in notebook 04.
"""
from __future__ import annotations

import numpy as np

from gpuviz.exercises.check import COL_ROW, Case, KernelExercise, coalesced, number_check

SEED = 202


def copy2d_reference(src, dst):
    return {"dst": src}


def _copy2d_cases(rng):
    for h, w in ((48, 48), (40, 70)):                 # square first (coalescing), then ragged edges (guards)
        args = (rng.random((h, w), dtype=np.float32), np.full((h, w), np.nan, np.float32))
        yield Case(args, ((w + 15) // 16, (h + 15) // 16), (16, 16), f"launch on a {h}x{w} array with blocks of 16x16",
                   shape=(h, w))


_copy2d = KernelExercise(
    "copy2d", reference=copy2d_reference, cases=_copy2d_cases, seed=SEED,
    hints={"out_of_bounds": f"{COL_ROW} Guard with row < dst.shape[0] and col < dst.shape[1]."},
    mistakes=[(lambda src, dst: {"dst": src.T}, "dst holds the transpose of src: read src[row, col], not src[col, row].")],
    requires=[coalesced("src")])


def col_sums_reference(a, out):
    return {"out": a.sum(axis=0, dtype=np.float64)}


def _col_sums_cases(rng):
    for rows, cols, tpb in ((17, 70, 32), (50, 40, 32)):
        grid = (cols + tpb - 1) // tpb
        args = (rng.random((rows, cols), dtype=np.float32), np.full(cols, np.nan, np.float32))
        yield Case(args, grid, tpb, f"a {rows}x{cols} matrix, {grid} blocks of {tpb}", shape=(cols,))


def _row_sums(run):
    """Thread r summed row r: the sums that were written are row sums."""
    if run.problem is not None:
        return None
    a, out = run.before("a"), run.after("out")
    rows = a.shape[0]
    filled = ~np.isnan(out[:rows])
    rowsums = a.sum(axis=1)[:out.size][filled]
    if filled.any() and np.allclose(out[:rows][filled], rowsums, rtol=1e-5) \
            and not np.allclose(out, run.want["out"], rtol=1e-5):
        return "those are row sums: thread c must add up column c, a[r, c] for every row r."
    return None


_col_sums = KernelExercise(
    "col_sums", reference=col_sums_reference, cases=_col_sums_cases, seed=SEED + 1, float32=True,
    diagnose=[_row_sums],
    hints={"unwritten": "One thread per column: thread c writes out[c]."},
    mistakes=[(lambda a, out: {"out": a[1:].sum(axis=0, dtype=np.float64)},
               "row 0 is left out of every sum: loop over range(a.shape[0]).")],
    requires=[coalesced("a", hint="make neighbouring threads read neighbouring columns of one row, a[r, c].")])


def _intensity(value):
    return number_check(value, 1 / 6, {
        0.25: "2 FLOPs / 8 bytes leaves out the write of out[i]: it moves 4 bytes too.",
        1 / 12: "that is half the answer: SAXPY does 2 FLOPs per element (a multiply and an add) on 4-byte "
                "float32 values; 1/12 counts one FLOP, or 8-byte (float64) elements.",
        6.0: "that is bytes per FLOP, upside down: intensity is FLOPs divided by bytes.",
        2 / 3: "2 / 3 counts elements (x, y, out) instead of bytes: each float32 is 4 bytes.",
        0.5: "2 / 4 counts only one 4-byte value per element: SAXPY reads x[i] and y[i] and writes out[i].",
    }, "saxpy_intensity")


CHECKS = {
    "02-copy2d": (2, _copy2d),
    "02-col-sums": (2, _col_sums),
    "02-intensity": (1, _intensity),
}
