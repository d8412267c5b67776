"""Exercises of notebook 01, threads, blocks and grids.

Each check takes the learner's object and returns (ok, message). Kernels run under the tracer on
random inputs sized so that the last block sticks out past the data, and their mistakes are
diagnosed from what the tracer saw.
"""
from __future__ import annotations

import numpy as np

from gpuviz.exercises.check import COL_ROW, Case, KernelExercise, number_check

SEED = 101


def _which_element(value):
    return number_check(value, 261, {
        642: "that is 5 * 128 + 2: block and thread swapped. The block number says how many whole blocks "
             "of 128 come before this thread; the thread number is the offset inside the block.",
        7: "that is 2 + 5: the block number must be multiplied by the block size (128).",
        10: "that is 2 * 5: the index is block * block_size + thread.",
        133: "that is 1 * 128 + 5: blocks are numbered from 0, so blocks 0 and 1 (256 threads) come first.",
        389: "that is 3 * 128 + 5: blocks are numbered from 0, so block 2 is the third block.",
        517: "that is 2 * 256 + 5: this launch uses blocks of 128 threads, not 256.",
        260: "that is 2 * 128 + 4: threads are numbered from 0, so thread 5 is at offset 5.",
    }, "element")


def _blocks_1000(value):
    return number_check(value, 4, {
        3: "3 blocks of 256 are only 768 threads: 232 elements would get no thread. Round up, not down.",
        3.90625: "1000 / 256 = 3.90625 is not a whole number of blocks: round it up.",
        1024: "1024 is the number of threads that 4 blocks give; the question asks for blocks.",
        1000: "1000 is the number of elements; the question asks for blocks of 256 threads.",
        5: "5 blocks are 1280 threads, one whole block more than needed: round 1000 / 256 up, and no further.",
        256: "256 is the block size; the question asks how many blocks.",
    }, "blocks")


def _saxpy_cases(rng):
    # a grid of fewer threads than elements first (only a loop covers it), then one of more threads than
    # elements (the loop's bound is the guard), then one block alone
    for n, grid, tpb in ((1000, 2, 64), (300, 3, 128), (77, 1, 32)):
        a = np.float32(rng.uniform(0.5, 2.0))
        x, y = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
        yield Case((a, x, y, np.full(n, np.nan, np.float32)), grid, tpb,
                   f"launch saxpy_stride[{grid}, {tpb}] ({grid * tpb} threads) with n = {n}", shape=(n,))


def saxpy_reference(a, x, y, out):
    return {"out": a * x + y}


_saxpy = KernelExercise(
    "saxpy_stride", reference=saxpy_reference, cases=_saxpy_cases, seed=SEED,
    hints={"race": "Two threads wrote the same element: each thread starts at its index over the whole grid, "
                   "`cuda.grid(1)`, and steps by the number of threads in the whole grid, `cuda.gridsize(1)`, "
                   "not by the block size or by 1.",
           "unwritten": "The grid has fewer threads than there are elements, so each thread must handle several: "
                        "loop from `cuda.grid(1)` in steps of `cuda.gridsize(1)` up to `out.size`."},
    mistakes=[(lambda a, x, y, out: {"out": a * y + x},
               "out[i] = a * y[i] + x[i]: x and y are swapped. SAXPY is a * x[i] + y[i]."),
              (lambda a, x, y, out: {"out": x + y}, "out[i] = x[i] + y[i]: the factor a is missing.")])


WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def grayscale_reference(rgb, gray):
    return {"gray": rgb @ WEIGHTS}


def _gray_cases(rng):
    h, w = 21, 37                                       # not square, not a multiple of 16
    yield Case((rng.random((h, w, 3), dtype=np.float32), np.full((h, w), np.nan, np.float32)),
               ((w + 15) // 16, (h + 15) // 16), (16, 16), f"launch on a {h}x{w} image with blocks of 16x16",
               shape=(h, w))


_grayscale = KernelExercise(
    "grayscale", reference=grayscale_reference, cases=_gray_cases, seed=SEED + 1,
    hints={"out_of_bounds": f"{COL_ROW} The guard needs both `row < gray.shape[0]` and `col < gray.shape[1]`."},
    mistakes=[(lambda rgb, gray: {"gray": rgb @ WEIGHTS[::-1]},
               "the weights are in the wrong order: 0.299 goes with red (channel 0), 0.114 with blue (channel 2)."),
              (lambda rgb, gray: {"gray": rgb.mean(axis=2)},
               "that is the plain mean of R, G and B; use the weights 0.299, 0.587, 0.114.")])


CHECKS = {
    "01-which-element": (1, _which_element),
    "01-blocks": (1, _blocks_1000),
    "01-saxpy": (2, _saxpy),
    "01-grayscale": (2, _grayscale),
}
