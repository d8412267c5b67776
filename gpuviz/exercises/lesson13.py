"""Exercises of notebook 13, Triton: a persistent, in-place AXPY (a fixed number of programs, each looping
over blocks), the fused softmax, and the tiled matmul with `tl.dot`.

Each check launches the learner's @triton.jit kernel on several shapes, including ones that are not
multiples of the block, on tensors that are views with padding around them. In Triton's interpreter
(no GPU) every load and store runs under `tritonkit.bounds_checked`, so a missing mask is named with
the program and the tensor it left; on a GPU the padding around the output catches unmasked stores.
Wrong strides show up on inputs whose rows are not contiguous, a wrong reduction axis and a `0` for
masked lanes are recognised by reproducing their result with NumPy, a block handled twice or never by
counting how many times each element of y was updated, a softmax without the max
subtracted by overflowing on large inputs, and float16 accumulation by its rounding error.
"""
from __future__ import annotations

import contextlib
import inspect
import re

import numpy as np

from gpuviz import tritonkit
from gpuviz.exercises.check import mismatch

SEED = 1313
PAD = 4096        # elements of padding, NaN, before and after each tensor a kernel gets: on a GPU, where
                  # nothing checks addresses, an unmasked block lands there and shows, instead of elsewhere


def _device():
    import torch

    return "cuda" if torch.cuda.is_available() and not tritonkit.interpreting() else "cpu"


def _padded(values: np.ndarray, dtype, fill=np.nan):
    """(view, padded storage): `values` as a tensor view with PAD elements of `fill` on both sides."""
    import torch

    flat = torch.full((values.size + 2 * PAD,), fill, dtype=dtype)
    flat[PAD:PAD + values.size] = torch.from_numpy(np.ascontiguousarray(values).reshape(-1)).to(dtype)
    flat = flat.to(_device())
    return flat[PAD:PAD + values.size].view(values.shape), flat


def _launch(kernel, grid, args, meta, tensors: dict, where: str, mask_hint: str):
    """Run the learner's kernel; None if it ran, else why not (NotImplementedError passes through)."""
    import torch

    try:
        with tritonkit.bounds_checked(**tensors) if tritonkit.interpreting() else contextlib.nullcontext():
            kernel[grid](*args, **meta)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
    except Exception as e:  # noqa: BLE001  the learner's kernel: explain any error
        e = tritonkit.unwrap_error(e)
        if isinstance(e, NotImplementedError):
            raise e
        if "NotImplementedError" in str(e):              # a stub, compiled for a GPU: Triton's CompilationError
            raise NotImplementedError() from e
        if isinstance(e, tritonkit.OutOfBounds):
            return f"{where}: {e} {mask_hint}"
        return f"{where}: your kernel raised {type(e).__name__}: {e}"
    return None


def _guard_intact(storage, n, where, name, mask_hint):
    """The padding around an output is still NaN: nothing was stored outside it (catches it on a GPU)."""
    pad = np.concatenate([storage[:PAD].cpu().numpy(), storage[PAD + n:].cpu().numpy()])
    if not np.isnan(pad.astype(np.float64)).all():
        return f"{where}: the kernel wrote outside {name}, past its end or before its start. {mask_hint}"
    return None


def _source(kernel) -> str:
    try:
        return inspect.getsource(getattr(kernel, "fn", kernel))
    except (OSError, TypeError):
        return ""


def _is_kernel(kernel) -> str | None:
    if type(kernel).__name__ in ("InterpretedFunction", "JITFunction"):
        return None
    return f"expected a @triton.jit kernel, got {type(kernel).__name__}: put @triton.jit above `def`."


# ---------------------------------------------------------------- 13-axpy

AXPY_MASK = ("Mask both loads and the store: `mask = offsets < n`, `tl.load(x_ptr + offsets, mask=mask)`, "
             "`tl.store(..., mask=mask)`. The last block reaches past n when n is not a multiple of BLOCK.")
AXPY_LOOP = ("Program pid handles blocks pid, pid + P, pid + 2P, ... of the data, with P = tl.num_programs(0) "
             "(never a fixed number: the check launches 1 to 5 programs): a Python `for ... in range(...)` "
             "whose start, end and step, in elements, follow from that. `gv.hint(\"13-axpy\")` has more.")
# (n in BLOCKs and extra elements, programs): fewer programs than blocks, more programs than blocks, one program
AXPY_CASES = ((0, 1, 4), (1, 0, 1), (10, -1, 3), (3, 17, 2), (2, 0, 5), (7, 5, 4))


def _axpy(kernel, block=128):
    """y <- a * x + y in place, launched on a fixed number of programs (fewer or more than the blocks of
    the data): each program loops over blocks pid, pid + P, ...; every element must be updated once."""
    import torch

    why = _is_kernel(kernel)
    if why:
        return False, why
    rng = np.random.default_rng(SEED)
    B = int(block)
    for blocks, extra, programs in AXPY_CASES:
        n = blocks * B + extra
        x = (rng.uniform(0.5, 1.5, n) * rng.choice([-1, 1], n)).astype(np.float32)   # |x| >= 0.5: counts show
        y0 = rng.standard_normal(n).astype(np.float32)
        a = float(np.float32(rng.uniform(0.5, 2)))
        want = np.float32(a) * x + y0
        tx, x_store = _padded(x, torch.float32)
        ty, y_store = _padded(y0, torch.float32)
        nb = -(-n // B)
        where = (f"axpy_kernel[({programs},)] with n = {n}, BLOCK = {B} ({nb} block{'s' * (nb > 1)} for "
                 f"{programs} program{'s' * (programs > 1)})")
        err = _launch(kernel, (programs,), (tx, ty, a, n), {"BLOCK": B}, {"x": tx, "y": ty}, where, AXPY_MASK)
        if err:
            return False, err
        for store, name in ((x_store, "x"), (y_store, "y")):
            err = _guard_intact(store, n, where, name, AXPY_MASK)
            if err:
                return False, err
        if not np.array_equal(tx.cpu().numpy(), x):
            return False, f"{where}: x changed. Only y is updated: y <- a * x + y; x is read only."
        got = ty.cpu().numpy()
        if np.allclose(got, want, rtol=1e-5, atol=1e-6):
            continue
        if np.allclose(got, np.float32(a) * y0 + x, rtol=1e-5, atol=1e-6):
            return False, f"{where}: you computed a * y + x; AXPY is y <- a * x + y."
        # how many times each element was updated: y0 + k * a * x
        with np.errstate(all="ignore"):
            k = (got.astype(np.float64) - y0) / (np.float64(a) * x)
        times = np.rint(k)
        if np.isfinite(k).all() and np.allclose(k, times, atol=1e-3) and (times >= 0).all():
            done = np.flatnonzero(times == 0)
            many = np.flatnonzero(times > 1)
            covered = programs * B
            if len(many):
                i = int(many[0])
                return False, (f"{where}: element {i} (in block {i // B}) was updated {int(times[i])} times, and "
                               f"{len(many)} of {n} elements more than once: two programs (or two trips of one "
                               "program's loop) handled the same block. " + AXPY_LOOP)
            if len(done) and (times[:covered] == 1).all() and (times[covered:] == 0).all():
                return False, (f"{where}: only the first {programs} blocks ({covered} elements) were updated: "
                               f"each program handled one block, as if the grid had one program per block. Here "
                               f"{programs} programs share {nb} blocks, so each must loop. " + AXPY_LOOP)
            i = int(done[0])
            return False, (f"{where}: {len(done)} of {n} elements were never updated (the first is element {i}, in "
                           f"block {i // B}). Every block must be handled by exactly one program. " + AXPY_LOOP)
        return False, f"{where}: " + mismatch(got, want, "y", rtol=1e-5, atol=1e-6)
    return True, f"{len(AXPY_CASES)} sizes and grids, bounds checked"


# ---------------------------------------------------------------- 13-softmax

SOFTMAX_MASK = ("Mask the load and the store with `(rows[:, None] < n_rows) & (cols[None, :] < n_cols)`: BLOCK_N "
                "is the next power of two above n_cols, and the last program's rows reach past n_rows.")


def softmax_reference(x, axis=1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax(kernel, block_m=4):
    """Row-wise softmax of an n_rows x n_cols view (row stride != n_cols), BLOCK_M rows per program."""
    import torch

    why = _is_kernel(kernel)
    if why:
        return False, why
    rng = np.random.default_rng(SEED + 1)
    BM = int(block_m)
    cases = [((1, 1), 1.0, 0), ((2 * BM, 16), 1.0, 0), ((3 * BM + 1, 100), 1.0, 0), ((2 * BM + 3, 37), 1.0, 9),
             ((BM + 2, 50), 200.0, 0)]           # (shape, scale, extra columns in the input's rows)
    for (rows, cols), scale, extra in cases:
        x_full = (scale * rng.standard_normal((rows, cols + extra))).astype(np.float32)
        x = x_full[:, :cols]
        want = softmax_reference(x.astype(np.float64))
        tfull, _ = _padded(x_full, torch.float32)
        tx = tfull[:, :cols]
        out, out_store = _padded(np.full((rows, cols), np.nan, np.float32), torch.float32)
        BN = 1 << max(0, (cols - 1).bit_length())
        grid = (-(-rows // BM),)
        shape = f"a {rows} x {cols} input" + (f" whose rows are {cols + extra} elements apart" if extra else "")
        if scale > 1:
            shape += f" with values up to {np.abs(x).max():.0f}"
        where = f"softmax_kernel[{grid}] on {shape}, BLOCK_M = {BM}, BLOCK_N = {BN}"
        hint = SOFTMAX_MASK if not extra else (
            f"Here the input's rows are {cols + extra} elements apart and out's {cols}: address each tensor with its "
            "own row stride (in_row_stride, out_row_stride). " + SOFTMAX_MASK)
        with np.errstate(all="ignore"):
            err = _launch(kernel, grid, (out, tx, rows, cols, tx.stride(0), out.stride(0)),
                          {"BLOCK_M": BM, "BLOCK_N": BN}, {"x": tx, "out": out}, where, hint)
        if err:
            return False, err
        err = _guard_intact(out_store, rows * cols, where, "out", hint)
        if err:
            return False, err
        got = out.cpu().numpy().astype(np.float64)
        if np.allclose(got, want, rtol=1e-4, atol=1e-6):
            continue
        if scale > 1 and not np.isfinite(got).all():
            return False, (f"{where}: the output has inf or NaN: exp() of large inputs overflows float32 (above "
                           "about 88). Subtract each row's maximum before tl.exp: softmax(x) = softmax(x - max(x)), "
                           "and the largest exponent is then exp(0) = 1.")
        if np.isnan(got).all(axis=1).any() and not np.isnan(got).all():
            return False, f"{where}: some rows of out were never written: each program handles rows pid * BLOCK_M ... + BLOCK_M - 1."
        with np.errstate(all="ignore"):
            blocks = [softmax_reference(x[i:i + BM].astype(np.float64), axis=0) for i in range(0, rows, BM)]
        if np.allclose(got, np.concatenate(blocks), rtol=1e-4, atol=1e-6):
            return False, (f"{where}: the reductions run down the columns (axis=0), across the rows of the block. "
                           "A row's softmax needs its own max and sum: tl.max(x, axis=1) and tl.sum(num, axis=1), "
                           "then [:, None] to subtract and divide row by row.")
        padded = np.concatenate([x, np.zeros((rows, BN - cols), np.float32)], axis=1).astype(np.float64)
        if BN > cols and np.allclose(got, softmax_reference(padded)[:, :cols], rtol=1e-4, atol=1e-6):
            return False, (f"{where}: the {BN - cols} masked lanes past n_cols were loaded as 0, and exp(0 - max) "
                           "adds to every row's sum. Load them as -inf (`other=-float('inf')`): exp(-inf) = 0.")
        if extra:
            packed = np.asarray(x_full).reshape(-1)[:rows * cols].reshape(rows, cols).astype(np.float64)
            if np.allclose(got, softmax_reference(packed), rtol=1e-4, atol=1e-6):
                return False, (f"{where}: row r was read at in_ptr + r * n_cols, but this input's rows are "
                               f"{cols + extra} elements apart: use the stride argument, in_ptr + r * in_row_stride "
                               "(and out_row_stride for the output).")
            return False, (f"{where}: the contiguous inputs passed, this one, whose rows are {cols + extra} elements "
                           "apart, did not: address row r at in_ptr + r * in_row_stride.")
        return False, f"{where}: " + mismatch(got, want, "out", rtol=1e-4, atol=1e-6)
    return True, f"{len(cases)} shapes, bounds checked"


# ---------------------------------------------------------------- 13-matmul

MATMUL_MASK = ("Mask every load and the store: rows < M and k < K for A, k < K and columns < N for B (with "
               "other=0.0, which adds nothing), rows < M and columns < N for C.")
FLOAT16_ACC = re.compile(r"tl\.zeros\(.*float16|out_dtype\s*=\s*tl\.float16|\.to\(tl\.float16\)")


def _matmul(kernel, block_m=32, block_n=32, block_k=16):
    """C = A @ B for shapes that are not multiples of the blocks, B a transposed view, float16 inputs."""
    import torch

    why = _is_kernel(kernel)
    if why:
        return False, why
    rng = np.random.default_rng(SEED + 2)
    BM, BN, BK = int(block_m), int(block_n), int(block_k)
    cases = [((BM, BK, BN), "float32", False), ((BM + 13, 2 * BK + 5, 2 * BN + 6), "float32", False),
             ((BM + 5, BK + 3, BN - 7), "float32", True), ((BM, 16 * BK, BN), "float16", False)]
    for (M, K, N), dtype, b_transposed in cases:
        tdt = getattr(torch, dtype)
        a = rng.standard_normal((M, K)).astype(np.float32)
        b = rng.standard_normal((K, N)).astype(np.float32)
        ta, _ = _padded(a, tdt)
        if b_transposed:            # B as the transpose of an N x K tensor: strides (1, K)
            tbt, _ = _padded(np.ascontiguousarray(b.T), tdt)
            tb = tbt.T
        else:
            tb, _ = _padded(b, tdt)
        a64, b64 = ta.cpu().double().numpy(), tb.cpu().double().numpy()          # the values as stored
        want = a64 @ b64
        c, c_store = _padded(np.full((M, N), np.nan, np.float32), torch.float32)
        grid = (-(-M // BM), -(-N // BN))
        where = (f"matmul_kernel[{grid}]: A {M}x{K} @ B {K}x{N} in {dtype}"
                 + (" (B a transposed view, strides (1, K))" if b_transposed else "")
                 + f", blocks {BM}x{BN}x{BK}")
        err = _launch(kernel, grid, (ta, tb, c, M, N, K, *ta.stride(), *tb.stride(), *c.stride()),
                      {"BLOCK_M": BM, "BLOCK_N": BN, "BLOCK_K": BK}, {"A": ta, "B": tb, "C": c}, where, MATMUL_MASK)
        if err:
            return False, err
        err = _guard_intact(c_store, M * N, where, "C", MATMUL_MASK)
        if err:
            return False, err
        got = c.cpu().numpy().astype(np.float64)
        if np.isnan(got).any():
            return False, (f"{where}: {int(np.isnan(got).sum())} of {got.size} elements of C were never written: "
                           "the grid has cdiv(M, BLOCK_M) x cdiv(N, BLOCK_N) programs, and program (pid_m, pid_n) "
                           "stores its BLOCK_M x BLOCK_N tile of C.")
        err_rel = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))
        # float16 products are exact in float32; float32 tiles go through TF32 on a GPU (10 mantissa bits)
        tol = 1e-5 if dtype == "float16" or tritonkit.interpreting() else 3e-3
        if err_rel < tol:
            continue
        Kf = (K // BK) * BK
        if Kf < K and np.allclose(got, a64[:, :Kf] @ b64[:Kf], rtol=1e-4, atol=1e-4):
            return False, (f"{where}: the last, partial step along K is left out: K = {K} needs "
                           f"{-(-K // BK)} steps of BLOCK_K = {BK}. Loop `for k0 in range(0, K, BLOCK_K)` and mask "
                           "k < K.")
        if err_rel < 5e-2 and (dtype == "float16" or tol == 1e-5):
            return False, (f"{where}: the result is off by {err_rel:.1e} relative to the largest element, the "
                           "rounding of a float16 accumulator (10 mantissa bits) over K steps. Accumulate in float32: "
                           "acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32), acc += tl.dot(a, b).")
        if b_transposed:
            return False, (f"{where}: the contiguous inputs passed, this one, where B is a transposed view, did not: "
                           "address B with its strides, b_ptr + k[:, None] * stride_bk + cols[None, :] * stride_bn, "
                           "never with N or K.")
        return False, f"{where}: " + mismatch(got, want, "C", rtol=1e-4, atol=1e-4)
    if FLOAT16_ACC.search(_source(kernel)):
        return False, ("the values are right here, but the source casts to or accumulates in float16; on a GPU that "
                       "loses precision (or does not compile). Keep acc float32 and convert only when storing.")
    return True, f"{len(cases)} shapes, bounds checked"


CHECKS = {
    "13-axpy": (2, _axpy),
    "13-softmax": (2, _softmax),
    "13-matmul": (3, _matmul),
}
