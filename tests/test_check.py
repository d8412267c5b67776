"""gpuviz.exercises.check: every exercise of every notebook (solution passes, stub fails), lesson 00's banks of
known mistakes, the generic kernel check's diagnoses, strict mode and what a learner sees."""
import pytest
from fixtures import kernel_exercises as K
from fixtures.notebook_cells import answer, exercises

from gpuviz.exercises import get, lesson00
from gpuviz.exercises.check import NOT_DONE, STRICT_ENV, CheckFailed, check

NOTEBOOK_EXERCISES = exercises()


@pytest.mark.parametrize("ex_id,nb,solution,stub,preamble,name,kwargs", NOTEBOOK_EXERCISES,
                         ids=[e[0] for e in NOTEBOOK_EXERCISES])
def test_notebook_solution_passes_and_stub_fails(ex_id, nb, solution, stub, preamble, name, kwargs):
    obj, kw = answer(preamble, solution, name, kwargs)
    assert check(ex_id, obj, **kw).passed
    obj, kw = answer(preamble, stub, name, kwargs)
    r = check(ex_id, obj, **kw)
    assert not r.passed and r.points == 0 and r.message


BANKS = [(ex_id, fn, why) for ex_id in ("00-flops", "00-bytes", "00-crossover") for fn, why in get(ex_id)[1].mistakes]


@pytest.mark.parametrize("ex_id,wrong,why", BANKS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BANKS)])
def test_lesson00_mistakes_are_diagnosed(ex_id, wrong, why):
    r = check(ex_id, wrong)
    assert not r.passed
    assert r.message.startswith(why) and "expected" in r.message      # the diagnosis, then a small case


def test_lesson00_references_and_stub():
    assert lesson00.flops_reference(2, 3, 4) == 48 and lesson00.nbytes_reference(2, 3, 4, 2) == 2 * (8 + 12 + 6)
    assert lesson00.crossover_reference([1, 2, 3], [1, 1, 1], [0, 2, 0]) == 3
    assert lesson00.crossover_reference([], [], []) is None

    def matmul_flops(m, n, k):
        raise NotImplementedError()
    assert check("00-flops", matmul_flops).message == NOT_DONE
    assert "expected the function" in check("00-flops", 42).message


def test_unknown_mistake_shows_expected_and_got():
    r = check("00-flops", lambda m, n, k: 2 * m * n * k + 1)
    assert r.message == "matmul_flops(1, 1, 1) returned 3, expected 2."


KERNEL_BANK = [
    (K.VADD, K.vadd_stub, {}, "not done yet"),
    (K.VADD, K.vadd_no_guard, {}, "missing guard"),
    (K.VADD, K.vadd_thread_only, {}, "several threads write the same element"),
    (K.VADD, K.vadd_minus, {}, "values of out are wrong"),
    (K.VADD, K.vadd_ok, {"grid": lambda shape, block: shape[0] // block}, "wrong grid size"),
    (K.VADD, K.vadd_ok, {"grid": lambda shape, block: max(1, shape[0] // block)}, "wrong grid size"),
    (K.VADD_STRIDE, K.vadd_ok, {}, "cuda.gridsize(1)"),
    (K.SCALE2D, K.scale_transposed, {}, "index mapping transposed"),
    (K.SCALE2D, K.scale_transposed_unguarded, {}, "missing guard"),
    (K.SCALE2D, K.scale_half_guard, {}, "missing guard"),
    (K.BLOCK_SUMS, K.sums_no_barrier, {}, "missing barrier"),
    (K.BLOCK_SUMS, K.sums_barrier_in_branch, {}, "barrier not reached by every thread"),
    (K.BLOCK_SUMS, K.sums_float64, {}, "float64 accumulation: `total = 0.0`"),
    (K.VADD, 42, {}, "expected the @cuda.jit kernel"),
]


@pytest.mark.parametrize("ex,kernel,kw,diagnosis", KERNEL_BANK, ids=lambda v: getattr(getattr(v, "py_func", v),
                                                                                      "__name__", None))
def test_kernel_check_diagnoses(ex, kernel, kw, diagnosis):
    ok, message = ex(kernel, **kw)
    assert not ok and diagnosis in message


@pytest.mark.parametrize("ex,kernel", [(K.VADD, K.vadd_ok), (K.VADD, K.vadd_stride), (K.VADD_STRIDE, K.vadd_stride),
                                       (K.SCALE2D, K.scale_ok), (K.BLOCK_SUMS, K.sums_ok)])
def test_kernel_check_passes_correct_kernels(ex, kernel):
    ok, message = ex(kernel)
    assert ok, message


def test_kernel_check_covers_edge_sizes_and_configs():
    assert K.VADD(K.vadd_ok) == (True, "8 launches checked under the tracer")   # sizes 1, 0, 45, 100 x 2 blocks
    _, message = K.VADD(K.vadd_minus)
    assert "expected out = [" in message and "got      out = [" in message  # the smallest failing case


def test_learner_sees_a_loud_line_and_no_exception(capsys, monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    r = check("00-flops", lambda m, n, k: m * n * k)
    out = capsys.readouterr()
    assert not r and out.err.startswith("❌ 00-flops failed: That counts one operation") and not out.out
    r = check("00-flops", lesson00.flops_reference)
    assert r and r.points == r.max_points == 2
    assert capsys.readouterr().out == "✅ 00-flops passed (10 cases).\n"
    r._ipython_display_()                        # as the cell's last value: not printed a second time
    assert capsys.readouterr().out == ""
    r._ipython_display_()
    assert capsys.readouterr().out == "✅ 00-flops passed (10 cases).\n"


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(CheckFailed, match="00-bytes failed: not done yet"):
        check("00-bytes", lambda m, n, k, itemsize=4: (_ for _ in ()).throw(NotImplementedError()))
    assert check("00-bytes", lesson00.nbytes_reference).passed
    monkeypatch.setenv(STRICT_ENV, "0")
    assert not check("00-bytes", lambda *a: 0).passed
    with pytest.raises(AssertionError):
        check("00-bytes", lambda *a: 0, strict=True)


def test_learner_errors_and_unknown_ids():
    r = check("00-flops", lambda m, n, k: m / 0)
    assert r.message == "your code raised ZeroDivisionError: division by zero"
    with pytest.raises(KeyError, match="did you mean 00-flops"):
        check("00-flop", lesson00.flops_reference)


# ---------------- the float64 detector, held to what Numba itself compiles

F64_TEMPLATE = '''import numpy as np
from numba import cuda, float32, float64

ZERO = 0.0
Z32 = np.float32(0)


@cuda.jit
def {name}(a, out):
    i = cuda.grid(1)
    if i < out.size:
        n = 0
        {init}
        for j in range(a.shape[0]):
            {step}
            n += 1
        out[i] = acc
'''
F64_CASES = {        # name: (initial value, accumulation, does Numba compute it in float64?)
    "lit_zero": ("acc = 0.0", "acc += a[j] * a[i]", True),
    "lit_dot": ("acc = 0.", "acc += a[j]", True),
    "neg_zero": ("acc = -0.0", "acc -= a[j]", True),
    "float_call": ("acc = float(0)", "acc += a[j] * a[i]", True),
    "float_of_int": ("acc = float(i)", "acc += a[j]", True),
    "float_of_size": ("acc = float(a.shape[0])", "acc *= a[j]", True),
    "np_float64": ("acc = np.float64(0)", "acc += a[j]", True),
    "numba_float64": ("acc = float64(0)", "acc += a[j]", True),
    "global_float": ("acc = ZERO", "acc += a[j]", True),
    "int_zero": ("acc = 0", "acc += a[j]", True),
    "tuple_init": ("acc, k = 0.0, 0", "acc += a[j]", True),
    "plain_add": ("acc = 0.0", "acc = acc + a[j] * a[i]", True),
    "int_div": ("acc = i / 2", "acc += a[j]", True),
    "float32_call": ("acc = float32(0)", "acc += a[j] * a[i]", False),
    "float32_lit": ("acc = float32(0.0)", "acc = acc + a[j]", False),
    "np_float32": ("acc = np.float32(0)", "acc += a[j]", False),
    "float_of_f32": ("acc = float(a[i])", "acc += a[j]", False),
    "element": ("acc = a[i]", "acc += a[j]", False),
    "global_f32": ("acc = Z32", "acc += a[j]", False),
    "f32_of_float": ("acc = float32(float(0))", "acc += a[j]", False),
    "f64_term": ("acc = float32(0)", "acc += a[j] * 2.0", True),          # the float32 start is not enough
    "f64_term_plain": ("acc = float32(0)", "acc = acc + 0.5 * a[j]", True),
    "f64_term_global": ("acc = float32(0)", "acc -= a[j] * ZERO", True),
    "f32_term": ("acc = float32(0)", "acc += a[j] * float32(2.0)", False),
    "f32_term_global": ("acc = float32(0)", "acc += a[j] * Z32", False),
}


def _f64_kernel(name, tmp_path):
    import importlib.util

    init, step, _ = F64_CASES[name]
    path = tmp_path / f"f64_{name}.py"
    path.write_text(F64_TEMPLATE.format(name=name, init=init, step=step))
    spec = importlib.util.spec_from_file_location(f"f64_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, name)


@pytest.mark.parametrize("name", F64_CASES)
def test_float64_detector_agrees_with_numba(name, tmp_path):
    """The detector flags a kernel exactly when Numba compiles its accumulation to float64 arithmetic
    (`add.f64`, `fma.rn.f64`, ... in the PTX), and never `float32(0)`, `np.float32(0)` or `float(a[i])`."""
    import re

    from numba import cuda

    from gpuviz.exercises.check import float64_message, literal_accumulators

    kernel = _f64_kernel(name, tmp_path)
    flagged = literal_accumulators(kernel)
    want = F64_CASES[name][2]
    assert bool(flagged) == want, flagged
    if want:
        assert flagged[0].name == "acc" and "float64 accumulation: `acc " in float64_message(kernel)
    try:
        ptx, _ = cuda.compile_ptx(kernel.py_func, "(float32[:], float32[:])", cc=(7, 5))
    except Exception as e:  # noqa: BLE001 no NVVM in this installation: the source-level half still ran
        pytest.skip(f"cannot compile to PTX here: {type(e).__name__}: {e}")
    f64 = re.findall(r"\b(?:add|sub|mul|fma)(?:\.rn)?\.f64\b", ptx)
    assert bool(f64) == want, f"Numba: {len(f64)} float64 instructions"


def test_a_counter_is_not_a_float64_accumulator(tmp_path):
    from gpuviz.exercises.check import literal_accumulators

    assert literal_accumulators(_f64_kernel("float32_call", tmp_path)) == []    # `n = 0; n += 1` is an int


def test_kernel_exercise_hooks():
    """mistakes (a known-wrong formula reproduced), diagnose (a lesson's own words, seeing the launch) and
    requires (right values, but not done the way the exercise asks) each name what they recognise."""
    from dataclasses import replace

    from gpuviz.exercises.check import Case, at_most_atomics, uses_shared

    ex = replace(K.VADD, shapes=[45], blocks=[32], mistakes=[(lambda x, y, out: {"out": x - y}, "x - y: subtracted.")])
    ok, msg = ex(K.vadd_minus)
    assert not ok and msg == "vadd[2, 32] on shape (45,): x - y: subtracted."
    assert ex(K.vadd_ok) == (True, "1 launch checked under the tracer")
    seen = replace(ex, diagnose=[lambda run: f"{run.nthreads} threads, {int(run.written('out').sum())} written"])
    assert seen(K.vadd_ok) == (False, "vadd[2, 32] on shape (45,): 64 threads, 45 written")
    ok, msg = replace(ex, requires=[uses_shared("stage x in shared memory.")])(K.vadd_ok)
    assert not ok and msg.endswith("stage x in shared memory.")
    atomics = replace(ex, requires=[at_most_atomics("out", 1)])
    assert atomics(K.vadd_ok)[0]
    ok, msg = atomics(K.vadd_atomic)
    assert not ok and "45 atomics on out from 2 blocks: at most 1 per block" in msg
    cases = replace(ex, cases=lambda rng, n=45: [Case(K._vec(rng, (n,)), 1, 64, f"n = {n}", shape=(n,))])
    assert cases(K.vadd_ok, n=50) == (True, "1 launch checked under the tracer")   # the check's keywords reach cases
    ok, msg = cases(K.vadd_ok, n=70)
    assert not ok and msg.startswith("n = 70: wrong grid size")
