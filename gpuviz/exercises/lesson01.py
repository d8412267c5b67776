"""Exercises of notebook 01, threads, blocks and grids.

Each check takes the learner's object and returns (ok, message). Kernels run under the tracer on
random inputs sized so that the last block sticks out past the data, and their mistakes are
diagnosed from what the tracer saw.
"""
from __future__ import annotations

import numpy as np

SEED = 101
BAD = ("out_of_bounds", "negative_index", "race", "divergent_barrier")


# ---- helpers shared by lessons 01-03 ----

def run_traced(kernel, grid, block, *args):
    """(trace, None) or (None, message) when the kernel cannot run at all."""
    from gpuviz.launch import LaunchError
    from gpuviz.tracer.scheduler import trace

    if not callable(kernel) and not hasattr(kernel, "py_func"):
        return None, f"expected a @cuda.jit kernel, got {type(kernel).__name__}"
    try:
        return trace(kernel, grid, block, *args), None
    except NotImplementedError:
        return None, "not done yet: replace `raise NotImplementedError()` with your kernel's body."
    except LaunchError as e:
        return None, f"the launch was refused: {e}"
    except TypeError as e:
        if "@cuda.jit" in str(e):
            return None, str(e)
        return None, f"the kernel raised TypeError: {e}"
    except Exception as e:  # the learner's code: report any error in their words
        return None, f"the kernel raised {type(e).__name__}: {e}"


def first_problem(t, kinds=BAD):
    return next((p for p in t.problems if p.kind in kinds), None)


def mismatch(got, want, name, rtol=1e-5, atol=1e-5):
    bad = ~np.isclose(got, want, rtol=rtol, atol=atol)
    idx = np.argwhere(bad)[0]
    where = tuple(int(i) for i in idx)
    where = where[0] if len(where) == 1 else where
    return (f"{int(bad.sum())} of {bad.size} values of {name} are wrong; e.g. {name}[{where}] is "
            f"{got[tuple(idx)]!r}, expected {want[tuple(idx)]!r}.")


def number_check(value, expected, wrong: dict, what: str):
    """A predicted number: exact (or within 1e-9 relative) match, known wrong values explained."""
    if value is None:
        return False, f"set `{what}` to your answer first (it is still None)."
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)):
        return False, f"`{what}` should be a number, got {type(value).__name__}."
    v = float(value)
    for w, why in wrong.items():
        if np.isclose(v, w, rtol=1e-6, atol=0):
            return False, f"{value} is not right: {why}"
    if np.isclose(v, expected, rtol=1e-6, atol=0):
        return True, ""
    return False, f"{value} is not right; work it out step by step from the text above."


def which_element(value):
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


def blocks_1000(value):
    return number_check(value, 4, {
        3: "3 blocks of 256 are only 768 threads: 232 elements would get no thread. Round up, not down.",
        3.90625: "1000 / 256 = 3.90625 is not a whole number of blocks: round it up.",
        1024: "1024 is the number of threads that 4 blocks give; the question asks for blocks.",
        1000: "1000 is the number of elements; the question asks for blocks of 256 threads.",
        5: "5 blocks are 1280 threads, one whole block more than needed: round 1000 / 256 up, and no further.",
        256: "256 is the block size; the question asks how many blocks.",
    }, "blocks")


def saxpy(kernel):
    rng = np.random.default_rng(SEED)
    for n, tpb in ((300, 128), (1000, 256)):
        a = np.float32(rng.uniform(0.5, 2.0))
        x = rng.random(n, dtype=np.float32)
        y = rng.random(n, dtype=np.float32)
        y0 = y.copy()
        out = np.full(n, np.nan, dtype=np.float32)
        grid = (n + tpb - 1) // tpb
        t, err = run_traced(kernel, grid, tpb, a, x, y, out)
        if err:
            return False, err
        p = first_problem(t)
        if p is not None and p.kind == "race" and p.array == "out":
            return False, (f"launch saxpy[{grid}, {tpb}] with n = {n}: several threads wrote the same element of "
                           f"out ({p.message.split(':')[0]}). The index must differ for every thread of the grid: "
                           "i = cuda.grid(1), which includes the block number.")
        if p is not None:
            return False, f"launch saxpy[{grid}, {tpb}] with n = {n}: {p.message}"
        want = a * x + y0
        if not np.array_equal(y, y0):
            return False, "the kernel changed y: write the result into out, leave the inputs alone."
        if np.isnan(out).any():
            missing = np.flatnonzero(np.isnan(out))
            if missing[0] >= tpb and np.allclose(out[:tpb], want[:tpb]):
                return False, (f"only the first {tpb} elements were written (by block 0): the index ignores "
                               "the block. Use i = cuda.grid(1) (= blockIdx.x * blockDim.x + threadIdx.x).")
            return False, f"{len(missing)} of {n} elements of out were never written, the first at index {missing[0]}."
        if np.allclose(out, a * y0 + x, rtol=1e-5):
            return False, "out[i] = a * y[i] + x[i]: x and y are swapped. SAXPY is a * x[i] + y[i]."
        if np.allclose(out, x + y0, rtol=1e-5):
            return False, "out[i] = x[i] + y[i]: the factor a is missing."
        if not np.allclose(out, want, rtol=1e-5):
            return False, mismatch(out, want, "out")
    return True, ""


WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def grayscale(kernel):
    rng = np.random.default_rng(SEED + 1)
    h, w = 21, 37                                       # not square, not a multiple of 16
    rgb = rng.random((h, w, 3), dtype=np.float32)
    gray = np.full((h, w), np.nan, dtype=np.float32)
    grid, block = ((w + 15) // 16, (h + 15) // 16), (16, 16)
    t, err = run_traced(kernel, grid, block, rgb, gray)
    if err:
        return False, err
    p = first_problem(t)
    if p is not None:
        hint = ""
        if p.kind == "out_of_bounds":
            hint = (" Remember: with col, row = cuda.grid(2), x is the column and y the row, and the guard "
                    "needs both `row < gray.shape[0]` and `col < gray.shape[1]`.")
        return False, f"launch on a {h}x{w} image with blocks of 16x16: {p.message}{hint}"
    want = rgb @ WEIGHTS
    if np.isnan(gray).any():
        return False, (f"{int(np.isnan(gray).sum())} of {h * w} pixels of a {h}x{w} image were never written. "
                       "cuda.grid(2) returns (x, y): x is the column, y the row, so write `col, row = cuda.grid(2)`.")
    if np.allclose(gray, rgb @ WEIGHTS[::-1], atol=1e-5):
        return False, "the weights are in the wrong order: 0.299 goes with red (channel 0), 0.114 with blue (channel 2)."
    if np.allclose(gray, rgb.mean(axis=2), atol=1e-5):
        return False, "that is the plain mean of R, G and B; use the weights 0.299, 0.587, 0.114."
    if not np.allclose(gray, want, atol=1e-5):
        return False, mismatch(gray, want, "gray")
    return True, ""


CHECKS = {
    "01-which-element": (1, which_element),
    "01-blocks": (1, blocks_1000),
    "01-saxpy": (2, saxpy),
    "01-grayscale": (2, grayscale),
}
