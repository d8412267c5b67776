"""Exercises of notebooks 04-05: stubs fail, solutions pass (the notebooks' and the package's ladder
kernels alike), and every known wrong answer is rejected with the right diagnosis. Kernels run under
gpuviz's tracer (no GPU, no simulator). The notebooks' solution kernels are held equal, line for line,
to gpuviz/matmul_kernels.py, the one copy `gpuviz bench` times.
"""
import inspect
import json
import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from numba import cuda, float32, float64

from gpuviz import matmul_kernels as mk
from gpuviz.exercises import get, lesson04, lesson05

ROOT = Path(__file__).resolve().parents[1]
TILE = 16                               # the notebook's tile (the package uses 32)
BM, BN, BK, TM = 32, 32, 8, 4           # the notebook's register-blocking sizes (the package: 64, 64, 8, 8)


@cuda.jit
def stub_kernel(A, B, C):
    raise NotImplementedError()


# ---------------- 04-coalesced
@cuda.jit
def coalesced_no_guard(A, B, C):
    col, row = cuda.grid(2)
    acc = float32(0.0)
    for k in range(A.shape[1]):
        acc += A[row, k] * B[k, col]
    C[row, col] = acc


@cuda.jit
def coalesced_wrong_k(A, B, C):
    col, row = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = float32(0.0)
        for k in range(1, A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc


@cuda.jit
def coalesced_float_call(A, B, C):      # float(0) is a float64 in Numba, like 0.
    col, row = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = float(0)
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc


@cuda.jit
def coalesced_float_of_int(A, B, C):    # float(k) of an int: a float64 too
    col, row = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = float(col - col)
        for k in range(A.shape[1]):
            acc = acc + A[row, k] * B[k, col]
        C[row, col] = acc


@cuda.jit
def coalesced_np_float64(A, B, C):
    col, row = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = np.float64(0)
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc


@cuda.jit
def coalesced_np_float32(A, B, C):      # also right: np.float32(0) is a float32
    col, row = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = np.float32(0)
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc


# ---------------- 05-tiled (TILE = 16)
@cuda.jit
def tiled_ok(A, B, C):
    sA = cuda.shared.array((TILE, TILE), float32)
    sB = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    col, row = cuda.grid(2)
    acc = float32(0.0)
    for t in range((A.shape[1] + TILE - 1) // TILE):
        k = t * TILE + tx
        if row < A.shape[0] and k < A.shape[1]:
            sA[ty, tx] = A[row, k]
        else:
            sA[ty, tx] = float32(0.0)
        k = t * TILE + ty
        if k < B.shape[0] and col < B.shape[1]:
            sB[ty, tx] = B[k, col]
        else:
            sB[ty, tx] = float32(0.0)
        cuda.syncthreads()
        for kk in range(TILE):
            acc += sA[ty, kk] * sB[kk, tx]
        cuda.syncthreads()
    if row < C.shape[0] and col < C.shape[1]:
        C[row, col] = acc


_VARIANTS = Path(tempfile.mkdtemp(prefix="gpuviz_05_variants_"))   # the tracer needs kernels' source files


def _variant(src_edit, name):
    """tiled_ok's source with one edit, compiled as a new kernel (keeps the bank short and exact)."""
    src = inspect.getsource(tiled_ok.py_func).replace("def tiled_ok(", f"def {name}(")
    new = src_edit(src)
    assert new != src, name
    path = _VARIANTS / f"{name}.py"
    path.write_text("from numba import cuda, float32\nTILE = 16\n\n@cuda.jit\n" + new)
    ns = {}
    code = compile(path.read_text(), str(path), "exec")
    exec(code, ns)
    import linecache
    linecache.checkcache(str(path))
    return ns[name]


tiled_no_load_barrier = _variant(lambda s: s.replace("        cuda.syncthreads()\n        for kk", "        for kk", 1),
                                 "tiled_no_load_barrier")
tiled_no_end_barrier = _variant(lambda s: s.replace("            acc += sA[ty, kk] * sB[kk, tx]\n        cuda.syncthreads()\n",
                                                    "            acc += sA[ty, kk] * sB[kk, tx]\n"), "tiled_no_end_barrier")
tiled_swapped_a = _variant(lambda s: s.replace("sA[ty, tx] = A[row, k]", "sA[tx, ty] = A[row, k]"), "tiled_swapped_a")
tiled_swapped_sum = _variant(lambda s: s.replace("sA[ty, kk] * sB[kk, tx]", "sA[kk, ty] * sB[tx, kk]"),
                             "tiled_swapped_sum")
tiled_floor_tiles = _variant(lambda s: s.replace("range((A.shape[1] + TILE - 1) // TILE)", "range(A.shape[1] // TILE)"),
                             "tiled_floor_tiles")
tiled_unguarded_loads = _variant(lambda s: s.replace("if row < A.shape[0] and k < A.shape[1]:", "if True:")
                                 .replace("if k < B.shape[0] and col < B.shape[1]:", "if True:"), "tiled_unguarded_loads")
tiled_float64 = _variant(lambda s: s.replace("acc = float32(0.0)", "acc = 0."), "tiled_float64")
tiled_float_call = _variant(lambda s: s.replace("acc = float32(0.0)", "acc = float(0)"), "tiled_float_call")
tiled_float64_term = _variant(lambda s: s.replace("acc += sA[ty, kk] * sB[kk, tx]", "acc += 1.0 * sA[ty, kk] * sB[kk, tx]"),
                              "tiled_float64_term")     # a float32 start, then a Python float in the sum


@cuda.jit
def tiled_early_exit(A, B, C):          # the guard wraps the barriers: threads past the edge skip them
    sA = cuda.shared.array((TILE, TILE), float32)
    sB = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    col, row = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = float32(0.0)
        for t in range((A.shape[1] + TILE - 1) // TILE):
            k = t * TILE + tx
            sA[ty, tx] = A[row, k] if k < A.shape[1] else float32(0.0)
            k = t * TILE + ty
            sB[ty, tx] = B[k, col] if k < B.shape[0] else float32(0.0)
            cuda.syncthreads()
            for kk in range(TILE):
                acc += sA[ty, kk] * sB[kk, tx]
            cuda.syncthreads()
        C[row, col] = acc


# ---------------- 05-regblock (BM, BN, BK, TM = 32, 32, 8, 4)
@cuda.jit
def regblock_ok(A, B, C):
    sA = cuda.shared.array((BM, BK), float32)
    sB = cuda.shared.array((BK, BN), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    row0, col0 = cuda.blockIdx.y * BM, cuda.blockIdx.x * BN
    t = ty * BN + tx
    acc = cuda.local.array(TM, float32)
    for i in range(TM):
        acc[i] = float32(0.0)
    for k0 in range(0, A.shape[1], BK):
        r, c = row0 + t // BK, k0 + t % BK
        if r < A.shape[0] and c < A.shape[1]:
            sA[t // BK, t % BK] = A[r, c]
        else:
            sA[t // BK, t % BK] = float32(0.0)
        r, c = k0 + t // BN, col0 + t % BN
        if r < B.shape[0] and c < B.shape[1]:
            sB[t // BN, t % BN] = B[r, c]
        else:
            sB[t // BN, t % BN] = float32(0.0)
        cuda.syncthreads()
        for k in range(BK):
            b = sB[k, tx]
            for i in range(TM):
                acc[i] += sA[ty * TM + i, k] * b
        cuda.syncthreads()
    col = col0 + tx
    for i in range(TM):
        row = row0 + ty * TM + i
        if row < C.shape[0] and col < C.shape[1]:
            C[row, col] = acc[i]


@cuda.jit
def regblock_one_row(A, B, C):          # writes only acc[0]: TM - 1 of every TM rows missing
    sA = cuda.shared.array((BM, BK), float32)
    sB = cuda.shared.array((BK, BN), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    row0, col0 = cuda.blockIdx.y * BM, cuda.blockIdx.x * BN
    t = ty * BN + tx
    acc = cuda.local.array(TM, float32)
    for i in range(TM):
        acc[i] = float32(0.0)
    for k0 in range(0, A.shape[1], BK):
        r, c = row0 + t // BK, k0 + t % BK
        sA[t // BK, t % BK] = A[r, c] if r < A.shape[0] and c < A.shape[1] else float32(0.0)
        r, c = k0 + t // BN, col0 + t % BN
        sB[t // BN, t % BN] = B[r, c] if r < B.shape[0] and c < B.shape[1] else float32(0.0)
        cuda.syncthreads()
        for k in range(BK):
            b = sB[k, tx]
            for i in range(TM):
                acc[i] += sA[ty * TM + i, k] * b
        cuda.syncthreads()
    row, col = row0 + ty * TM, col0 + tx
    if row < C.shape[0] and col < C.shape[1]:
        C[row, col] = acc[0]


@cuda.jit
def regblock_no_barrier(A, B, C):
    sA = cuda.shared.array((BM, BK), float32)
    sB = cuda.shared.array((BK, BN), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    row0, col0 = cuda.blockIdx.y * BM, cuda.blockIdx.x * BN
    t = ty * BN + tx
    acc = cuda.local.array(TM, float32)
    for i in range(TM):
        acc[i] = float32(0.0)
    for k0 in range(0, A.shape[1], BK):
        r, c = row0 + t // BK, k0 + t % BK
        sA[t // BK, t % BK] = A[r, c] if r < A.shape[0] and c < A.shape[1] else float32(0.0)
        r, c = k0 + t // BN, col0 + t % BN
        sB[t // BN, t % BN] = B[r, c] if r < B.shape[0] and c < B.shape[1] else float32(0.0)
        cuda.syncthreads()
        for k in range(BK):
            b = sB[k, tx]
            for i in range(TM):
                acc[i] += sA[ty * TM + i, k] * b
    col = col0 + tx
    for i in range(TM):
        row = row0 + ty * TM + i
        if row < C.shape[0] and col < C.shape[1]:
            C[row, col] = acc[i]


@cuda.jit
def regblock_float64(A, B, C):
    sA = cuda.shared.array((BM, BK), float32)
    sB = cuda.shared.array((BK, BN), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    row0, col0 = cuda.blockIdx.y * BM, cuda.blockIdx.x * BN
    t = ty * BN + tx
    acc = cuda.local.array(TM, float64)
    for i in range(TM):
        acc[i] = 0.
    for k0 in range(0, A.shape[1], BK):
        r, c = row0 + t // BK, k0 + t % BK
        sA[t // BK, t % BK] = A[r, c] if r < A.shape[0] and c < A.shape[1] else float32(0.0)
        r, c = k0 + t // BN, col0 + t % BN
        sB[t // BN, t % BN] = B[r, c] if r < B.shape[0] and c < B.shape[1] else float32(0.0)
        cuda.syncthreads()
        for k in range(BK):
            b = sB[k, tx]
            for i in range(TM):
                acc[i] += sA[ty * TM + i, k] * b
        cuda.syncthreads()
    col = col0 + tx
    for i in range(TM):
        row = row0 + ty * TM + i
        if row < C.shape[0] and col < C.shape[1]:
            C[row, col] = acc[i]


# ---------------- cheats: right values from a naive kernel next to shared memory it does not need
@cuda.jit
def coalesced_unused_shared(A, B, C):   # 04's kernel with a shared array declared and never used
    sA = cuda.shared.array((TILE, TILE), float32)   # noqa: F841 the cheat
    col, row = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = float32(0.0)
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc


@cuda.jit
def coalesced_token_shared(A, B, C):    # reads shared memory once, then the whole sum from global memory
    sA = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    col, row = cuda.grid(2)
    sA[ty, tx] = float32(0.0)
    cuda.syncthreads()
    acc = sA[ty, tx]
    if row < C.shape[0] and col < C.shape[1]:
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc


@cuda.jit
def regblock_unused_shared(A, B, C):    # TM rows per thread, each summed from global memory
    sA = cuda.shared.array((BM, BK), float32)   # noqa: F841 the cheat
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    row0, col0 = cuda.blockIdx.y * BM, cuda.blockIdx.x * BN
    col = col0 + tx
    for i in range(TM):
        row = row0 + ty * TM + i
        if row < C.shape[0] and col < C.shape[1]:
            acc = float32(0.0)
            for k in range(A.shape[1]):
                acc += A[row, k] * B[k, col]
            C[row, col] = acc


@cuda.jit
def regblock_token_shared(A, B, C):     # the same, after one read of shared memory
    sB = cuda.shared.array((BK, BN), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    row0, col0 = cuda.blockIdx.y * BM, cuda.blockIdx.x * BN
    if ty < BK:
        sB[ty, tx] = float32(0.0)
    cuda.syncthreads()
    col = col0 + tx
    for i in range(TM):
        row = row0 + ty * TM + i
        if row < C.shape[0] and col < C.shape[1]:
            acc = sB[0, tx]
            for k in range(A.shape[1]):
                acc += A[row, k] * B[k, col]
            C[row, col] = acc


KW = {"05-tiled": {"tile": TILE}, "05-regblock": {"bm": BM, "bn": BN, "bk": BK, "tm": TM}}


def check(ex_id, obj, **kw):
    for mod in (lesson04, lesson05):
        if ex_id in mod.CHECKS:
            return mod.CHECKS[ex_id][1](obj, **(KW.get(ex_id, {}) | kw))
    raise KeyError(ex_id)


def _intensity(n):
    return 2 * n**3 / (4 * (2 * n**3 + n**2))


# exercise id -> (stub, solution, [(wrong answer, words the diagnosis must contain)])
CASES = {
    "04-coalesced": (stub_kernel, mk.matmul_coalesced, [
        (mk.naive_rows, "uncoalesced"), (mk.naive_traps, "uncoalesced"), (mk.naive_float64, "float64 accumulation"),
        (coalesced_no_guard, "Guard"), (coalesced_wrong_k, "values of C are wrong"),
        (coalesced_float_call, "float64 accumulation: `acc = float(0)`"),
        (coalesced_float_of_int, "float64 accumulation: `acc = float(col - col)`"),
        (coalesced_np_float64, "float64 accumulation: `acc = np.float64(0)`")]),
    "04-intensity": (lambda n: (_ for _ in ()).throw(NotImplementedError()), _intensity, [
        (lambda n: n / 6, "compulsory"), (lambda n: 2 * n**3 / (8 * n**3), "write of C"),
        (lambda n: 2 * n**3 / (8 * (2 * n**3 + n**2)), "8-byte"), (lambda n: n**3 / (4 * (2 * n**3 + n**2)), "two FLOPs"),
        (lambda n: 4 * (2 * n**3 + n**2) / (2 * n**3), "upside down")]),
    "04-attainable": ({"naive": None, "cuBLAS": None}, {"naive": 80, "cuBLAS": 8100}, [
        ({"naive": 8100, "cuBLAS": 8100}, "compute roof"), ({"naive": 1280, "cuBLAS": 8100}, "bandwidth / intensity"),
        ({"naive": 0.08, "cuBLAS": 8100}, "units"), ({"naive": 160, "cuBLAS": 8100}, "8 bytes"),
        ({"naive": 40, "cuBLAS": 8100}, "two FLOPs"), ({"naive": 2048 / 6 * 320, "cuBLAS": 8100}, "compulsory"),
        ({"naive": 80, "cuBLAS": 2048 / 6 * 320}, "memory slope"), ({"naive": 80, "cuBLAS": 80}, "naive kernel's"),
        ({"naive": 80, "cuBLAS": 8.1}, "TFLOP/s"), ({"naive": 80, "cuBLAS": 7000}, "not within 2%"),
        ({"naive": 80}, "should be a dict"), ({"naive": "80", "cuBLAS": 8100}, "should be a number"),
        (80, "should be a dict")]),
    "05-tiled": (stub_kernel, tiled_ok, [
        (tiled_no_load_barrier, "missing barrier"), (tiled_no_end_barrier, "missing barrier"),
        (tiled_swapped_a, "swapped tile indices"), (tiled_swapped_sum, "swapped tile indices"),
        (tiled_floor_tiles, "Round the number of tiles up"), (tiled_unguarded_loads, "guard each load"),
        (tiled_early_exit, "barrier not reached by every thread"), (tiled_float64, "float64 accumulation"),
        (tiled_float_call, "float64 accumulation: `acc = float(0)`"),
        (tiled_float64_term, "`1.0` is a float64 in Numba"),
        (mk.matmul_coalesced, "no shared memory"),
        (coalesced_unused_shared, "declares a shared array and never reads it"),
        (coalesced_token_shared, "read A 32768 times from global memory for A 32x32 @ B 32x32; tiling reads each "
                                  "element of A once per block column (ceil(N/16) = 2), 2048 reads.")]),
    "05-regblock": (stub_kernel, regblock_ok, [
        (regblock_one_row, "never written"), (regblock_no_barrier, "missing barrier"),
        (regblock_float64, "float64"), (tiled_ok, "past the end of a shared tile"),
        (regblock_unused_shared, "declares a shared array and never reads it"),
        (regblock_token_shared, "read A 16384 times from global memory for A 32x16 @ B 16x32; tiling reads each "
                                 "element of A once per block column (ceil(N/32) = 1), 512 reads.")]),
    "05-bank-ways": (lambda s: (_ for _ in ()).throw(NotImplementedError()), lambda s: 1 if s == 0 else math.gcd(s, 32), [
        (lambda s: max(1, min(s, 32)), "greatest common divisor"),
        (lambda s: 1 if s == 0 else 32 // math.gcd(s, 32), "DIFFERENT banks"),
        (lambda s: math.gcd(s, 32), "broadcast")]),
}


@pytest.mark.parametrize("ex_id", CASES)
def test_stub_fails(ex_id):
    from gpuviz.exercises.check import check as gv_check

    res = gv_check(ex_id, CASES[ex_id][0], strict=False, **KW.get(ex_id, {}))
    assert not res.passed and "not done yet" in res.message


@pytest.mark.parametrize("ex_id", CASES)
def test_solution_passes(ex_id):
    ok, msg = check(ex_id, CASES[ex_id][1])
    assert ok, msg


WRONG = [(ex_id, i) for ex_id, case in CASES.items() for i in range(len(case[2]))]


@pytest.mark.parametrize("ex_id,i", WRONG, ids=[f"{e}-{getattr(c[2][i][0], '__name__', i)}-{i}"
                                                  for e, c in CASES.items() for i in range(len(c[2]))])
def test_wrong_answer_is_diagnosed(ex_id, i):
    wrong, words = CASES[ex_id][2][i]
    ok, msg = check(ex_id, wrong)
    assert not ok
    assert words in msg, msg


def test_every_exercise_has_a_bank():
    assert set(lesson04.CHECKS) | set(lesson05.CHECKS) == set(CASES)


@pytest.mark.parametrize("ex_id,kernel,kw", [
    ("04-coalesced", mk.matmul_coalesced, {}),
    ("05-tiled", mk.matmul_tiled, {"tile": mk.TILE}),
    ("05-regblock", mk.matmul_regblock1d, {"bm": mk.BM, "bn": mk.BN, "bk": mk.BK, "tm": mk.TM}),
])
def test_package_kernels_pass_the_exercises(ex_id, kernel, kw):
    """The ladder's kernels, with the package's tile sizes, meet the same checks as the learner's."""
    ok, msg = check(ex_id, kernel, **kw)
    assert ok, msg


def _body(src: str) -> list[str]:
    lines = [ln.rstrip() for ln in src.splitlines()]
    lines = [ln for ln in lines if ln.strip() and not ln.strip().startswith(("@", "#"))]   # markers, comments
    return [re.sub(r"\s+#.*$", "", ln) for ln in lines]


SOLUTIONS = {"04-coalesced": ("04_matmul_naive.ipynb", mk.matmul_coalesced),
             "05-tiled": ("05_matmul_tiled.ipynb", mk.matmul_tiled),
             "05-regblock": ("05_matmul_tiled.ipynb", mk.matmul_regblock1d)}


@pytest.mark.parametrize("ex_id", SOLUTIONS)
def test_notebook_solution_is_the_package_kernel(ex_id):
    """One kernel, two places: the notebook's solution equals gpuviz/matmul_kernels.py, comments aside."""
    name, kernel = SOLUTIONS[ex_id]
    nb = json.loads((ROOT / "course" / "solutions" / name).read_text())
    cells = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == f"{ex_id}-solution"]
    assert len(cells) == 1
    src = "".join(cells[0]["source"])
    assert _body(src) == _body(inspect.getsource(kernel.py_func))


def test_float32_starts_pass():
    ok, msg = check("04-coalesced", coalesced_np_float32)
    assert ok, msg


def test_attainable_bank_is_named_and_far_from_the_answer():
    """Every wrong value lesson04 knows is named by its check, and none lies within the tolerance of the model."""
    right = lesson04.attainable_reference()
    for key, wrong, why in lesson04._attainable_mistakes():
        assert abs(wrong - right[key]) > lesson04.ATTAINABLE_RTOL * right[key], (key, wrong)
        ok, msg = get("04-attainable")[1](right | {key: wrong})
        assert not ok and why in msg, msg


# ---------------- the skeletons of 05-tiled and 05-regblock, filled step by step
SKELETON_STEPS = {   # exercise -> [(steps filled, words the check's message must contain)]
    "05-tiled": [((), "not done yet"), ((1, 2), "name 'n_tiles' is not defined"),
                 ((1, 2, 3, 4), "never written"), ((1, 2, 3, 4, 6, 7, 8), "missing barrier"),
                 ((1, 2, 3, 4, 5, 6, 8), "missing barrier"), ((1, 2, 3, 5, 6, 7, 8), "Step 4 (the loads)"),
                 ((1, 2, 3, 4, 5, 7, 8), "Step 6 (multiply-add)"), ((1, 2, 3, 4, 5, 6, 7), "never written")],
    "05-regblock": [((), "not done yet"), ((1, 2, 3), "never written"), ((1, 2, 3, 5, 6, 7), "missing barrier"),
                    ((1, 3, 4, 5, 6, 7), "reads sA, which no thread"), ((1, 2, 4, 5, 6, 7), "reads sB, which no thread"),
                    ((1, 2, 3, 4, 6, 7), "Step 5 (multiply-add)"), ((1, 2, 3, 4, 5, 6), "never written")],
}


def _skeleton(ex_id, filled):
    """The learner's cell of `ex_id` as `gpuviz student` writes it, with the steps in `filled` done as in the
    solution (and the `raise` of step 1 replaced once step 1 is done), compiled as a kernel."""
    from gpuviz.course import student as S

    nb = json.loads((ROOT / "course" / "solutions" / "05_matmul_tiled.ipynb").read_text())
    src = next("".join(c["source"]) for c in nb["cells"]
               if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == f"{ex_id}-solution")
    parts = re.split(r"(\n[ \t]*### BEGIN SOLUTION\n.*?### END SOLUTION)", src, flags=re.S)
    steps = iter(range(1, len(parts)))
    src = "".join(re.sub(r"\n[ \t]*### (BEGIN|END) SOLUTION", "", p) if "### BEGIN" in p and next(steps) in filled
                  else p for p in parts)
    stub = S.strip_source(src)
    if 1 in filled:
        stub = stub.replace("raise NotImplementedError()", "pass")
    name = f"{ex_id.replace('-', '_')}_{'_'.join(map(str, filled)) or 'stub'}"
    path = _VARIANTS / f"{name}.py"
    path.write_text("from numba import cuda, float32\n"
                    f"TILE = {TILE}\nBM, BN, BK, TM = {BM}, {BN}, {BK}, {TM}\n\n" + stub)
    ns = {}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    import linecache
    linecache.checkcache(str(path))
    return next(v for v in ns.values() if hasattr(v, "py_func"))


@pytest.mark.parametrize("ex_id,filled,words", [(e, f, w) for e, steps in SKELETON_STEPS.items() for f, w in steps],
                         ids=[f"{e}-{'-'.join(map(str, f)) or 'stub'}" for e, s in SKELETON_STEPS.items() for f, _ in s])
def test_a_partly_filled_skeleton_names_what_is_missing(ex_id, filled, words):
    from gpuviz.exercises.check import check as gv_check

    res = gv_check(ex_id, _skeleton(ex_id, set(filled)), strict=False, **KW[ex_id])
    assert not res.passed and words in res.message, res.message


@pytest.mark.parametrize("ex_id", SKELETON_STEPS)
def test_the_filled_skeleton_passes(ex_id):
    from gpuviz.exercises.check import check as gv_check

    n = {"05-tiled": 8, "05-regblock": 7}[ex_id]
    res = gv_check(ex_id, _skeleton(ex_id, set(range(1, n + 1))), strict=False, **KW[ex_id])
    assert res.passed, res.message


# ---------------- 04: the learner finds the problems from evidence, and nothing shows the fix

def _statements(src: str) -> list[str]:
    import ast

    body = ast.parse(src).body[0].body
    return [ast.dump(s) for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]


def _cells(folder: str, name: str = "04_matmul_naive.ipynb") -> list[dict]:
    return json.loads((ROOT / folder / name).read_text())["cells"]


def test_04_naive_kernel_is_shown_unlabelled_and_is_the_package_kernel():
    """Notebook 04 writes the naive kernel out without comments that name its problems, and it is the
    package's naive_traps statement for statement (the PTX the notebook shows is naive_traps's)."""
    cells = ["".join(c["source"]) for c in _cells("course/solutions") if c["cell_type"] == "code"]
    naive = [c for c in cells if "def matmul_naive(" in c]
    assert len(naive) == 1
    assert "#" not in naive[0] and '"""' not in naive[0], "the naive kernel's comments would give the traps away"
    assert _statements(naive[0].split("\n", 1)[1]) == _statements(inspect.getsource(mk.naive_traps.py_func).split("\n", 1)[1])
    assert not any("show(mk." in c for c in cells), "show(mk....) prints a package kernel with its labelled comments"


def test_04_student_notebook_does_not_write_the_fixed_lines():
    """Neither the prose nor the code of the student notebook writes a line of the fix: the mapping that
    makes the warp coalesce, or a float32 start of the sum."""
    text = "\n".join("".join(c["source"]) for c in _cells("notebooks"))
    for fix in (r"col\s*,\s*row\s*=\s*cuda\.grid\(2\)", r"float32\(0(\.0?)?\)", r"x\s+(indexes|along) the columns?\b"):
        assert not re.search(fix, text), f"the student notebook 04 gives the fix away: {fix}"


@pytest.mark.parametrize("kernel", [mk.naive_rows, mk.naive_traps])
def test_04_uncoalesced_message_points_to_the_evidence(kernel):
    ok, msg = check("04-coalesced", kernel)
    assert not ok and "uncoalesced" in msg and "32 sectors" in msg and "Section 1" in msg, msg
    assert "col, row = cuda.grid(2)" not in msg and 'gv.hint("04-coalesced")' in msg, msg
