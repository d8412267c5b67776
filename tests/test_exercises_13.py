"""Exercises of notebook 13 (Triton): stubs fail, solutions pass, and every known wrong answer is rejected
with the right diagnosis. Kernels run in Triton's interpreter, bounds checked (no GPU). The notebook's
solution kernels are held equal, line for line, to the ones here.
"""
import json
import re
from pathlib import Path

import pytest

# in its interpreter: tests/conftest.py sets TRITON_INTERPRET=1 before anything imports triton
triton = pytest.importorskip("triton", reason='Triton is not installed: pip install "gpuviz[triton]"')
import triton.language as tl  # noqa: E402

from gpuviz.exercises import lesson13  # noqa: E402
from gpuviz.exercises.check import check  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


# ---------------- 13-axpy
@triton.jit
def axpy_stub(x_ptr, y_ptr, a, n, BLOCK: tl.constexpr):
    raise NotImplementedError()


@triton.jit
def axpy_kernel(x_ptr, y_ptr, a, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    step = tl.num_programs(0) * BLOCK               # all programs together cover this many elements per trip
    for start in range(pid * BLOCK, n, step):       # blocks pid, pid + P, pid + 2P, ...
        offsets = start + tl.arange(0, BLOCK)
        mask = offsets < n                          # the last block sticks out past n
        x = tl.load(x_ptr + offsets, mask=mask)
        y = tl.load(y_ptr + offsets, mask=mask)
        tl.store(y_ptr + offsets, a * x + y, mask=mask)


@triton.jit
def axpy_one_block(x_ptr, y_ptr, a, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)     # bug: add_kernel's indexing, no loop
    mask = offsets < n
    tl.store(y_ptr + offsets, a * tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask),
             mask=mask)


@triton.jit
def axpy_step_block(x_ptr, y_ptr, a, n, BLOCK: tl.constexpr):
    for start in range(tl.program_id(0) * BLOCK, n, BLOCK):      # bug: steps by one block, not P blocks
        offsets = start + tl.arange(0, BLOCK)
        mask = offsets < n
        tl.store(y_ptr + offsets, a * tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask),
                 mask=mask)


@triton.jit
def axpy_start_zero(x_ptr, y_ptr, a, n, BLOCK: tl.constexpr):
    for start in range(0, n, tl.num_programs(0) * BLOCK):       # bug: every program starts at block 0
        offsets = start + tl.arange(0, BLOCK)
        mask = offsets < n
        tl.store(y_ptr + offsets, a * tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask),
                 mask=mask)


@triton.jit
def axpy_four_programs(x_ptr, y_ptr, a, n, BLOCK: tl.constexpr):
    for start in range(tl.program_id(0) * BLOCK, n, 4 * BLOCK):  # bug: assumes 4 programs
        offsets = start + tl.arange(0, BLOCK)
        mask = offsets < n
        tl.store(y_ptr + offsets, a * tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask),
                 mask=mask)


@triton.jit
def axpy_no_mask(x_ptr, y_ptr, a, n, BLOCK: tl.constexpr):
    for start in range(tl.program_id(0) * BLOCK, n, tl.num_programs(0) * BLOCK):
        offsets = start + tl.arange(0, BLOCK)
        tl.store(y_ptr + offsets, a * tl.load(x_ptr + offsets) + tl.load(y_ptr + offsets))   # bug: no masks


@triton.jit
def axpy_swapped(x_ptr, y_ptr, a, n, BLOCK: tl.constexpr):
    for start in range(tl.program_id(0) * BLOCK, n, tl.num_programs(0) * BLOCK):
        offsets = start + tl.arange(0, BLOCK)
        mask = offsets < n
        tl.store(y_ptr + offsets, a * tl.load(y_ptr + offsets, mask=mask) + tl.load(x_ptr + offsets, mask=mask),
                 mask=mask)                         # bug: a * y + x


@triton.jit
def axpy_into_x(x_ptr, y_ptr, a, n, BLOCK: tl.constexpr):
    for start in range(tl.program_id(0) * BLOCK, n, tl.num_programs(0) * BLOCK):
        offsets = start + tl.arange(0, BLOCK)
        mask = offsets < n
        tl.store(x_ptr + offsets, a * tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask),
                 mask=mask)                         # bug: writes x, not y


def axpy_plain(x_ptr, y_ptr, a, n, BLOCK):   # bug: no @triton.jit
    pass


# ---------------- 13-softmax
@triton.jit
def softmax_stub(out_ptr, in_ptr, n_rows, n_cols, in_row_stride, out_row_stride,
                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    raise NotImplementedError()


@triton.jit
def softmax_kernel(out_ptr, in_ptr, n_rows, n_cols, in_row_stride, out_row_stride,
                   BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)       # (BLOCK_M,)
    cols = tl.arange(0, BLOCK_N)                                    # (BLOCK_N,)
    mask = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)      # (BLOCK_M, BLOCK_N)
    x = tl.load(in_ptr + rows[:, None] * in_row_stride + cols[None, :], mask=mask, other=-float("inf"))
    x = x - tl.max(x, axis=1)[:, None]              # each row's max: exp() cannot overflow
    num = tl.exp(x)
    out = num / tl.sum(num, axis=1)[:, None]
    tl.store(out_ptr + rows[:, None] * out_row_stride + cols[None, :], out, mask=mask)


def _softmax_variant(edit, name):
    """softmax_kernel with one edit, as a new kernel in its own file (the interpreter needs the source)."""
    import importlib.util
    import inspect
    import tempfile

    src = inspect.getsource(softmax_kernel.fn).replace("def softmax_kernel(", f"def {name}(")
    new = edit(src)
    assert new != src, name
    path = Path(tempfile.mkdtemp(prefix="gpuviz_13_")) / f"{name}.py"
    path.write_text("import triton\nimport triton.language as tl\n\n\n" + new)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, name)


softmax_axis0 = _softmax_variant(lambda s: s.replace("axis=1)[:, None]", "axis=0)[None, :]"), "softmax_axis0")
softmax_no_max = _softmax_variant(lambda s: s.replace("    x = x - tl.max(x, axis=1)[:, None]", "    x = x + 0.0"),
                                  "softmax_no_max")
softmax_other_zero = _softmax_variant(lambda s: s.replace('other=-float("inf")', "other=0.0"), "softmax_other_zero")
softmax_n_cols_stride = _softmax_variant(lambda s: s.replace("rows[:, None] * in_row_stride", "rows[:, None] * n_cols"),
                                         "softmax_n_cols_stride")
softmax_no_mask = _softmax_variant(lambda s: s.replace(', mask=mask, other=-float("inf"))', ")")
                                   .replace(", out, mask=mask)", ", out)"), "softmax_no_mask")
softmax_col_mask_only = _softmax_variant(lambda s: s.replace("mask = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)",
                                                             "mask = (cols[None, :] < n_cols) & (rows[:, None] >= 0)"),
                                         "softmax_col_mask_only")
softmax_out_stride = _softmax_variant(lambda s: s.replace("rows[:, None] * out_row_stride", "rows[:, None] * in_row_stride"),
                                      "softmax_out_stride")


# ---------------- 13-matmul
@triton.jit
def matmul_stub(a_ptr, b_ptr, c_ptr, M, N, K, stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
                BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    raise NotImplementedError()


@triton.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    rm = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)        # this program's rows of C
    rn = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)        # ... and columns
    rk = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)            # accumulate in float32
    for k0 in range(0, K, BLOCK_K):
        k = k0 + rk
        a = tl.load(a_ptr + rm[:, None] * stride_am + k[None, :] * stride_ak,
                    mask=(rm[:, None] < M) & (k[None, :] < K), other=0.0)
        b = tl.load(b_ptr + k[:, None] * stride_bk + rn[None, :] * stride_bn,
                    mask=(k[:, None] < K) & (rn[None, :] < N), other=0.0)
        acc += tl.dot(a, b)                                         # a BLOCK_M x BLOCK_K x BLOCK_N product
    tl.store(c_ptr + rm[:, None] * stride_cm + rn[None, :] * stride_cn, acc,
             mask=(rm[:, None] < M) & (rn[None, :] < N))


def _matmul_variant(edit, name):
    import importlib.util
    import inspect
    import tempfile

    src = inspect.getsource(matmul_kernel.fn).replace("def matmul_kernel(", f"def {name}(")
    new = edit(src)
    assert new != src, name
    path = Path(tempfile.mkdtemp(prefix="gpuviz_13_")) / f"{name}.py"
    path.write_text("import triton\nimport triton.language as tl\n\n\n" + new)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, name)


matmul_no_k_mask = _matmul_variant(lambda s: s.replace("mask=(rm[:, None] < M) & (k[None, :] < K), other=0.0",
                                                       "mask=rm[:, None] < M, other=0.0")
                                   .replace("mask=(k[:, None] < K) & (rn[None, :] < N), other=0.0",
                                            "mask=rn[None, :] < N, other=0.0"), "matmul_no_k_mask")
matmul_no_store_mask = _matmul_variant(lambda s: s.replace(", acc,\n             mask=(rm[:, None] < M) & (rn[None, :] < N))",
                                                           ", acc)"), "matmul_no_store_mask")
matmul_floor_k = _matmul_variant(lambda s: s.replace("range(0, K, BLOCK_K)", "range(0, K - BLOCK_K + 1, BLOCK_K)"),
                                 "matmul_floor_k")
matmul_wrong_stride = _matmul_variant(lambda s: s.replace("k[:, None] * stride_bk + rn[None, :] * stride_bn",
                                                          "k[:, None] * N + rn[None, :]"), "matmul_wrong_stride")
matmul_fp16_acc = _matmul_variant(lambda s: s.replace("dtype=tl.float32)", "dtype=tl.float16)")
                                  .replace("acc += tl.dot(a, b)", "acc += tl.dot(a, b).to(tl.float16)"),
                                  "matmul_fp16_acc")
matmul_fp16_zeros = _matmul_variant(lambda s: s.replace("dtype=tl.float32)", "dtype=tl.float16)"), "matmul_fp16_zeros")
matmul_same_tile = _matmul_variant(lambda s: s.replace("tl.program_id(1) * BLOCK_N + ", ""), "matmul_same_tile")


# ---------------- the bank
CASES = [
    ("13-axpy", axpy_stub, "not done yet"),
    ("13-axpy", axpy_one_block, "each program handled one block"),
    ("13-axpy", axpy_step_block, "more than once"),
    ("13-axpy", axpy_start_zero, "more than once"),
    ("13-axpy", axpy_four_programs, "never updated"),
    ("13-axpy", axpy_no_mask, "tl.load reads"),
    ("13-axpy", axpy_swapped, "a * y + x"),
    ("13-axpy", axpy_into_x, "x changed"),
    ("13-axpy", axpy_plain, "put @triton.jit above"),
    ("13-softmax", softmax_stub, "not done yet"),
    ("13-softmax", softmax_axis0, "axis=0"),
    ("13-softmax", softmax_no_max, "Subtract each row's maximum"),
    ("13-softmax", softmax_other_zero, "other=-float('inf')"),
    ("13-softmax", softmax_n_cols_stride, "in_row_stride"),
    ("13-softmax", softmax_no_mask, "Mask the load and the store"),
    ("13-softmax", softmax_col_mask_only, "Mask the load and the store"),
    ("13-softmax", softmax_out_stride, "its own row stride"),
    ("13-matmul", matmul_stub, "not done yet"),
    ("13-matmul", matmul_no_k_mask, "Mask every load"),
    ("13-matmul", matmul_no_store_mask, "tl.store writes"),
    ("13-matmul", matmul_floor_k, "partial step along K"),
    ("13-matmul", matmul_wrong_stride, "address B with its strides"),
    ("13-matmul", matmul_fp16_acc, "Accumulate in float32"),
    ("13-matmul", matmul_fp16_zeros, "accumulates in float16"),
    ("13-matmul", matmul_same_tile, "were never written"),
]


@pytest.mark.parametrize("ex, kernel, words", CASES, ids=[f"{c[0]}-{getattr(c[1], '__name__', '?')}" for c in CASES])
def test_wrong_answers_fail_with_the_diagnosis(ex, kernel, words, capsys):
    r = check(ex, kernel, strict=False)
    assert not r.passed
    assert words in r.message, r.message


@pytest.mark.parametrize("ex, kernel", [("13-axpy", axpy_kernel), ("13-softmax", softmax_kernel),
                                        ("13-matmul", matmul_kernel)])
def test_solutions_pass(ex, kernel, capsys):
    r = check(ex, kernel, strict=False)
    assert r.passed, r.message


def test_out_of_bounds_names_program_and_tensor():
    ok, why = lesson13.CHECKS["13-axpy"][1](axpy_no_mask, block=128)
    assert not ok and "program 0:" in why and "past the end of x" in why, why


def test_notebook_kernels_are_the_tested_ones():
    """The solution kernels in the notebook are these, line for line (comments aside)."""
    import inspect

    nb = json.loads((ROOT / "course/solutions/13_triton.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    code = code.replace("    ### BEGIN SOLUTION\n", "").replace("    ### END SOLUTION\n", "")

    def norm(s):
        return [re.sub(r"\s+#.*$", "", ln).rstrip() for ln in s.splitlines() if ln.strip()]

    for k in (axpy_kernel, softmax_kernel, matmul_kernel):
        src = norm(inspect.getsource(k.fn))
        assert "\n".join(src) in "\n".join(norm(code)), f"{k.__name__} differs from the notebook's"
