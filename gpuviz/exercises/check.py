"""Exercise checks: `gv.check("00-flops", matmul_flops)` ends every exercise cell.

The exercise is looked up by ID in `gpuviz.exercises`; its check compares the learner's object with
a NumPy reference and explains the likely mistake. A check prints one line, "✅ ID passed" or
"❌ ID failed: why", and returns a `Result`. In a learner's session a failure never raises, so a
notebook full of unsolved exercises still runs to the end. In strict mode (environment variable
GPUVIZ_STRICT=1, set by `gpuviz grade` and by CI's run of the instructor sources, or `strict=True`)
a failure raises `CheckFailed`, an AssertionError, so the cell errors.

Two generic exercise kinds live here; lessons build their exercises from them (or write a plain
function `check(obj) -> (ok, message)`):
- `FunctionExercise`: a Python function against a reference on edge and random cases, with a bank of
  known mistakes, each recognised by reproducing the learner's answers.
- `KernelExercise`: a @cuda.jit kernel run under `gpuviz.tracer.scheduler` on several sizes (1, empty where legal,
  non-multiples of the block) and launch configurations; races and bad indices fail, and missing
  guards, transposed index mappings, missing barriers, wrong grid sizes and float64 accumulators are
  named.
"""
from __future__ import annotations

import ast
import inspect
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

STRICT_ENV = "GPUVIZ_STRICT"
NOT_DONE = "not done yet: replace `raise NotImplementedError()` with your code, then run this cell again."

__all__ = ["Case", "CheckFailed", "FunctionExercise", "KernelExercise", "Result", "Run", "check", "passed", "strict_mode"]


class CheckFailed(AssertionError):
    """A failed check in strict mode."""


@dataclass
class Result:
    exercise: str
    passed: bool
    message: str          # why it failed; on success an optional note ("12 cases")
    points: float         # earned
    max_points: float
    _shown: bool = field(default=False, repr=False, compare=False)

    def __bool__(self):
        return self.passed

    @property
    def line(self) -> str:
        if self.passed:
            note = f" ({self.message})" if self.message else ""
            return f"✅ {self.exercise} passed{note}."
        return f"❌ {self.exercise} failed: {self.message}"

    def __str__(self):
        return self.line

    def _ipython_display_(self):
        # check() already printed the line; as a cell's last value, do not print it twice
        if self._shown:
            self._shown = False
        else:
            print(self.line)


def strict_mode() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _clean(text: str) -> str:
    return re.sub(r" at 0x[0-9a-fA-F]+", "", str(text))   # object reprs: stable output, no addresses


def check(exercise_id: str, obj: Any, *, strict: bool | None = None, **kw) -> Result:
    """Check the learner's answer `obj` to exercise `exercise_id`, print the verdict, return a Result."""
    from gpuviz.exercises import get

    points, fn = get(exercise_id)
    ok, message = judge(fn, obj, **kw)
    result = Result(exercise_id, ok, message, points if ok else 0, points, _shown=True)
    _passed[exercise_id] = result.passed
    print(result.line, file=sys.stdout if ok else sys.stderr, flush=True)
    if not ok and (strict_mode() if strict is None else strict):
        raise CheckFailed(result.line)
    return result


_passed: dict[str, bool] = {}     # exercise ID -> did its last check in this session pass


def passed(*exercise_ids: str) -> bool:
    """Did the last `check` of each of these exercises in this session pass? Guard every launch of a
    learner's kernel outside its check with it: on a GPU an unchecked kernel can fail silently (exceptions
    in kernels are not reported) or poison the CUDA context. Prints what to do when the answer is no."""
    missing = [e for e in exercise_ids if not _passed.get(e)]
    if missing:
        print(f"This cell uses your answer to {', '.join(missing)}, which has not passed its check yet: "
              "finish the exercise, run its check cell until it passes, then run this cell again.")
    return not missing


def judge(fn: Callable, obj: Any, **kw) -> tuple[bool, str]:
    """(passed, message) of check function `fn` on the learner's answer; a kernel that passes must also
    compile for a real GPU (gpuviz.exercises.compileproof). Used by `check` and by the grader's own copy of it."""
    launches: list = []
    try:
        with _launches_of(obj, launches):
            ok, message = fn(obj, **kw)
    except NotImplementedError:
        ok, message = False, NOT_DONE
    except Exception as e:  # noqa: BLE001 the learner's code: report any error in their words
        ok, message = False, f"your code raised {type(e).__name__}: {e}"
    ok, message = bool(ok), _clean(message)
    if ok and launches:
        from gpuviz.exercises import compileproof

        compiled, why = compileproof.verify(obj, launches)
        if compiled is False:
            return False, why
        if why:                      # could not verify: said once, the check still passes
            print(f"⚠️ {why}", file=sys.stderr, flush=True)
    return ok, message


class _launches_of:
    """While checking, collect the argument types of every launch of the learner's kernel `obj`
    (a gpuviz.hooks subscriber sees each traced or simulated launch)."""

    def __init__(self, obj, into: list):
        self.obj, self.into, self.saved = obj, into, None

    def __enter__(self):
        from gpuviz import hooks
        from gpuviz.tracer.kernelsource import python_function

        try:
            target = python_function(self.obj)
        except TypeError:
            return self
        if target is self.obj or getattr(self.obj, "_device", False) is True:
            return self                               # a plain function or a device function: no kernel
        from gpuviz.kernelrecord import _argtype

        def record(kernel, args, kwargs):
            try:
                if python_function(kernel) is target:
                    self.into.append([_argtype(a) for a in args])
            except Exception:  # noqa: BLE001 never break a check over its bookkeeping
                pass

        self.saved = record
        hooks.subscribe(record)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            from gpuviz import hooks

            hooks.unsubscribe(self.saved)
        return False


# ---------------------------------------------------------------- functions

def same(got, want, rtol=1e-9) -> bool:
    """Exact for ints, None and containers; relative tolerance for floats; numbers of any type."""
    if want is None or got is None or isinstance(got, (bool, np.bool_)):
        return got is want or (got is not None and want is not None and got == want)
    if isinstance(want, (int, float, np.number)) and isinstance(got, (int, float, np.number)):
        return math.isclose(float(got), float(want), rel_tol=rtol, abs_tol=0)
    try:
        return bool(np.array_equal(got, want))
    except Exception:  # noqa: BLE001 any comparison that cannot be made is a mismatch
        return False


def _call(name, args) -> str:
    return f"{name}({', '.join(map(repr, args))})"


@dataclass
class FunctionExercise:
    """A Python function checked against `reference` on `cases(rng)` (argument tuples, smallest first).

    `mistakes` maps a wrong function (same arguments) to the plain-words diagnosis shown when the
    learner's answers match it on every case.
    """
    name: str
    reference: Callable
    cases: Callable[[np.random.Generator], list[tuple]]
    mistakes: list[tuple[Callable, str]] = field(default_factory=list)
    seed: int = 0

    def __call__(self, fn):
        if not callable(fn):
            return False, f"expected the function {self.name}, got {type(fn).__name__}."
        cases = self.cases(np.random.default_rng(self.seed))
        for args in cases:
            want, got = self.reference(*args), fn(*args)
            if same(got, want):
                continue
            shown = f"{_call(self.name, args)} returned {got!r}, expected {want!r}."
            for wrong, why in self.mistakes:
                if all(same(fn(*a), wrong(*a)) for a in cases):
                    return False, f"{why} For example {shown}"
            return False, shown
        return True, f"{len(cases)} cases"


# ---------------------------------------------------------------- kernels

def grid_for(shape: tuple, block) -> tuple | int:
    """Enough blocks to cover `shape`: x runs along the last axis (columns), y along rows."""
    if isinstance(block, int):
        return max(1, -(-shape[0] // block))
    return tuple(max(1, -(-n // b)) for n, b in zip(reversed(shape), block))


_F64, _INT, _F32 = "float64", "int", "float32"        # what Numba makes of an expression, where we can tell
_INT_CALLS = {"round", "min", "max", "abs"}       # ints when all their arguments are ints
_CUDA_INTS = {"grid", "gridsize", "threadIdx", "blockIdx", "blockDim", "gridDim", "laneid", "warpsize"}


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _numba_type(node, env: dict, globs: dict) -> str | None:
    """float64, int or float32 where Numba's typing of the expression is certain from the source, else None.
    A Python float (a literal, `float(...)` of an int or a float64, a global float) is a float64 in Numba;
    an int mixed with a float32 gives a float64 too; `float32(...)` and `np.float32(...)` are float32."""
    t = lambda n: _numba_type(n, env, globs)           # noqa: E731
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool):
            return None
        return _F64 if isinstance(node.value, float) else _INT if isinstance(node.value, int) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return t(node.operand)
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        v = globs.get(node.id)
        if isinstance(v, (bool, np.bool_)):
            return None
        if isinstance(v, (float, np.float64)):
            return _F64
        if isinstance(v, (int, np.integer)):
            return _INT
        if isinstance(v, np.float32):
            return _F32
        return None
    if isinstance(node, ast.Attribute):
        name = _dotted(node)
        if name.split(".")[-1] in ("size", "ndim", "warpsize"):
            return _INT
        return _INT if name.split(".")[-1] in ("x", "y", "z") and any(c in name for c in _CUDA_INTS) else None
    if isinstance(node, ast.Subscript):
        return _INT if _dotted(node.value).endswith("shape") else None
    if isinstance(node, ast.Call):
        name = _dotted(node.func).split(".")[-1]
        if name in ("float32", "single", "float16", "half"):
            return _F32
        if name in ("float64", "double"):
            return _F64
        if name == "float":                                # float(x) keeps a float32, makes the rest float64
            arg = t(node.args[0]) if node.args else _F64
            return _F32 if arg == _F32 else _F64 if arg in (_F64, _INT) else None
        if name in ("len", "int") or name in _INT_CALLS and node.args and all(t(a) == _INT for a in node.args):
            return _INT
        if name in ("grid", "gridsize", "laneid") and "cuda" in _dotted(node.func):
            return _INT
        return None
    if isinstance(node, ast.BinOp):
        a, b = t(node.left), t(node.right)
        if _F64 in (a, b):
            return _F64
        if isinstance(node.op, ast.Div) and a == _INT and b == _INT:
            return _F64                                    # true division of ints is a float64
        if a == _INT and b == _INT and not isinstance(node.op, ast.Pow):
            return _INT
        if _F32 in (a, b) and _INT in (a, b) and not isinstance(node.op, ast.Pow):
            return _F64                                    # float32 with an int64: Numba makes it float64
        return _F32 if a == b == _F32 else None
    if isinstance(node, ast.IfExp):
        a, b = t(node.body), t(node.orelse)
        return a if a == b else _F64 if _F64 in (a, b) else None
    return None


def _accumulations(tree) -> dict[str, list]:
    """{name: [(statement, right-hand side)]} of `name += x` (also -=, *=, /=) and `name = name + x`
    (also -, *, /)."""
    acc: dict[str, list] = {}
    ops = (ast.Add, ast.Sub, ast.Mult, ast.Div)
    for node in ast.walk(tree):
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and isinstance(node.op, ops):
            acc.setdefault(node.target.id, []).append((node, node.value))
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and isinstance(node.value, ast.BinOp) and isinstance(node.value.op, ops):
            name = node.targets[0].id
            for side, other in ((node.value.left, node.value.right), (node.value.right, node.value.left)):
                if isinstance(side, ast.Name) and side.id == name:
                    acc.setdefault(name, []).append((node, other))
    return acc


class Float64Accumulator(NamedTuple):
    """A variable Numba accumulates in float64: `code` at `line` is its float64 start ("start") or a float64
    term added to it ("term", such as the `2.0` of `acc += x * 2.0`, which makes the sum float64 too)."""
    name: str
    line: int
    code: str
    cause: str
    culprit: str = ""          # for a term: the float64 part of it (`2.0`)


def literal_accumulators(kernel) -> list[Float64Accumulator]:
    """Each variable that is accumulated into (`+=`, `-=`, `*=`, or `acc = acc + ...`) and either is assigned
    a value that Numba types float64: `0.`, `-0.0`, `float(0)`, `float(i)` of an int,
    `np.float64(0)`, a global Python float; or an int (`0`), which turns float64 once a float32 is added
    (a counter that only adds ints is left alone); or is added a float64 term (`acc += x * 2.0`). Such an
    accumulation runs in double precision on the GPU. `float32(0)`, `np.float32(0)`, `float(a[i])` of a
    float32 element and `a[i]` are float32."""
    from gpuviz.tracer.kernelsource import python_function, source_tree

    fn = python_function(kernel)
    try:
        tree = source_tree(fn)
    except (OSError, TypeError, SyntaxError):
        return []
    first = fn.__code__.co_firstlineno - 1
    globs = dict(getattr(fn, "__globals__", {}))
    if fn.__closure__:
        globs.update(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__)))
    env: dict[str, str | None] = {}
    assigned: list[tuple[str, int, ast.AST]] = []
    for node in sorted((n for n in ast.walk(tree) if hasattr(n, "lineno")), key=lambda n: (n.lineno, n.col_offset)):
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name) and isinstance(node.iter, ast.Call) \
                and _dotted(node.iter.func) == "range":
            env.setdefault(node.target.id, _INT)
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        pairs = [(target, value)]
        if isinstance(target, ast.Tuple):
            if isinstance(value, ast.Tuple) and len(value.elts) == len(target.elts):
                pairs = list(zip(target.elts, value.elts))
            elif isinstance(value, ast.Call) and _dotted(value.func).endswith(("grid", "gridsize")):
                pairs = [(e, ast.Constant(0)) for e in target.elts]           # cuda.grid(2): ints
            else:
                pairs = [(e, None) for e in target.elts]
        for tgt, val in pairs:
            if isinstance(tgt, ast.Name):
                kind = _numba_type(val, env, globs) if val is not None else None
                before = env.get(tgt.id, kind)                 # Numba unifies every assignment's type
                env[tgt.id] = _F64 if _F64 in (before, kind) else kind if before == kind else None
                if val is not None and not (isinstance(val, ast.BinOp) and any(
                        isinstance(s, ast.Name) and s.id == tgt.id for s in (val.left, val.right))):
                    assigned.append((tgt.id, node.lineno + first, val))
    found: list[Float64Accumulator] = []
    accumulated = _accumulations(tree)
    typed = lambda n: _numba_type(n, env, globs)          # noqa: E731
    for name, line, val in assigned:
        if name not in accumulated or name in [f.name for f in found]:
            continue
        kind = typed(val)
        if kind == _F64 or kind == _INT and any(typed(r) != _INT for _, r in accumulated[name]):
            found.append(Float64Accumulator(name, line, ast.unparse(val), "start"))
    for name, updates in accumulated.items():            # a float32 start, then `acc += x * 2.0`
        for stmt, rhs in updates:
            if name not in [f.name for f in found] and typed(rhs) == _F64:
                leaf = next(n for n in ast.walk(rhs) if typed(n) == _F64
                            and not isinstance(n, (ast.BinOp, ast.UnaryOp, ast.IfExp)))
                found.append(Float64Accumulator(name, stmt.lineno + first, ast.unparse(stmt), "term",
                                                ast.unparse(leaf)))
    return sorted(found, key=lambda f: f.line)


def float64_message(kernel) -> str | None:
    """Why a kernel asked to compute in float32 accumulates in float64 (the first such variable), or None.
    The one wording every float32 kernel exercise uses."""
    acc = literal_accumulators(kernel)
    if not acc:
        return None
    name, line, lit, cause, culprit = acc[0]
    if cause == "term":
        return (f"float64 accumulation: `{lit}` (line {line}) adds a 64-bit float: `{culprit}` is a float64 in "
                f"Numba, so {name} becomes a 64-bit float and every `{name} += ...` runs in double precision, "
                f"up to 64x slower on GPUs built for float32. Write it as `float32({culprit})`.")
    try:
        is_int = type(ast.literal_eval(lit)) is int
    except (ValueError, SyntaxError):
        is_int = False
    makes = (f"makes {name} an int64 in Numba, and adding a float32 to it makes it a 64-bit float" if is_int else
             f"makes {name} a 64-bit float in Numba")
    return (f"float64 accumulation: `{name} = {lit}` (line {line}) {makes}, so every "
            f"`{name} += ...` runs in double precision, up to 64x slower on GPUs built for float32. "
            f"Start from `{name} = float32(0.0)`.")


def float64_array_message(kernel) -> str | None:
    """Why a float32 kernel's local or shared array is float64, or None."""
    from gpuviz.tracer.kernelsource import python_function

    try:
        src = inspect.getsource(python_function(kernel))
    except (OSError, TypeError):
        return None
    m = re.search(r"cuda\.(local|shared)\.array\(([^)]*)\bfloat64\)", src)
    if not m:
        return None
    return (f"float64 accumulation: `cuda.{m.group(1)}.array({m.group(2)}float64)` holds 64-bit floats, so "
            f"the sums kept in it run in double precision; make it `cuda.{m.group(1)}.array({m.group(2)}float32)`.")


# ---- the recurring words of kernel checks: each written once, here
COL_ROW = "cuda.grid(2) returns (x, y), and x runs along columns: `col, row = cuda.grid(2)`."
GUARD = "missing guard (the grid has more threads than elements, so the extra threads must do nothing): "
ROUND_UP = "Round the number of blocks up: (n + threads - 1) // threads."
BLOCK_INDEX = "Use cuda.grid(1) (= blockIdx.x * blockDim.x + threadIdx.x)."
BAD = ("out_of_bounds", "negative_index", "race", "divergent_barrier")   # problems that fail a kernel check


def number_check(value, expected, wrong: dict, what: str):
    """A predicted number: exact (or within 1e-6 relative) match, known wrong values explained."""
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


def mismatch(got, want, name, rtol=1e-5, atol=1e-6) -> str:
    """How many values of array `name` are wrong, where the first is, and the expected and actual arrays."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return f"{name} has shape {got.shape}, expected {want.shape}."
    wrong = ~np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    first = tuple(int(i) for i in np.argwhere(wrong)[0]) if wrong.any() else ()
    return (f"{int(wrong.sum())} of {want.size} values of {name} are wrong, the first at {name}"
            f"[{', '.join(map(str, first))}].\n  expected {name} = {_small(want)}\n  got      {name} = {_small(got)}")


def coalesced(*arrays, hint: str = "Neighbouring threads (x) walk down a column. " + COL_ROW, least: float = 0.5):
    """A requirement for KernelExercise.requires: every warp request to each of `arrays` uses at least
    `least` of the sectors it touches."""
    def requirement(run):
        worst = min((run.trace.metrics.get(a, {}).get("efficiency", 1.0), a) for a in arrays)
        if worst[0] >= least:
            return None
        m = run.trace.metrics[worst[1]]
        return (f"the values are right, but the kernel is uncoalesced: each warp request to {worst[1]} touched "
                f"{m['sectors_per_request']:.0f} sectors (coalescing {m['efficiency']:.0%}). {hint}")
    return requirement


def uses_shared(why: str = "the values are right, but the kernel uses no shared memory: stage its tiles in "
                           "cuda.shared.array and compute from there."):
    """A requirement for KernelExercise.requires: the kernel reads a shared array (or updates it atomically).
    Declaring one is not enough: the tracer registers an array when it is declared, used or not."""
    def requirement(run):
        counts = run.trace.per_array().values()
        if any(c["reads"] + c["atomics"] for c in counts if c["space"] == "shared"):
            return None
        declared = any(c["space"] == "shared" for c in counts)
        return why + (" (It declares a shared array and never reads it.)" if declared else "")
    return requirement


def tiled_reads(tile: Callable, a: str = "A", b: str = "B", hint: str = ""):
    """A requirement for KernelExercise.requires of a tiled matmul C = a @ b: the kernel reads shared memory
    (`uses_shared`), and reads each of `a` and `b` from global memory no more often than tiling does.
    tile(run) -> (BM, BN, BK): a block computes a BM x BN tile of C and steps over K by BK. Tiling reads each
    element of `a` once per block column, M*K*ceil(N/BN) in all, and each of `b` once per block row,
    K*N*ceil(M/BM); the cap allows the padding of the last tiles (every block loading whole BM x BK and
    BK x BN tiles at every step). Tiles loaded and then not used leave the reads of a naive kernel: M*K*N."""
    no_shared = uses_shared(f"the values are right, but the kernel uses no shared memory: load the tiles of {a} "
                            f"and {b} into shared arrays and compute from there. {hint}".strip())

    def requirement(run):
        why = no_shared(run)
        if why:
            return why
        bm, bn, bk = (int(x) for x in tile(run))
        (M, K), N = run.before(a).shape, run.before(b).shape[1]
        rows, cols, steps = -(-M // bm), -(-N // bn), -(-K // bk)
        counts = run.trace.per_array()
        for name, exact, cap in ((a, M * K * cols, rows * bm * steps * bk * cols),
                                 (b, K * N * rows, steps * bk * cols * bn * rows)):
            got = counts.get(name, {}).get("reads", 0)
            if got > cap:
                per = f"ceil(N/{bn}) = {cols}" if name == a else f"ceil(M/{bm}) = {rows}"
                return (f"the values are right, but the kernel read {name} {got} times from global memory for "
                        f"A {M}x{K} @ B {K}x{N}; tiling reads each element of {name} once per "
                        f"{'block column' if name == a else 'block row'} ({per}), {exact} reads"
                        f"{f' (at most {cap} with whole edge tiles)' if cap > exact else ''}. Compute from the "
                        f"shared tiles, not from "
                        f"{name}. {hint}").strip()
        return None
    return requirement


def at_most_atomics(array: str, per_block: int, why: str = ""):
    """A requirement for KernelExercise.requires: at most `per_block` atomics on `array` per block."""
    def requirement(run):
        n = int(run.trace.counts(array, "atomic").sum()) if array in run.trace.arrays else 0
        blocks = int(np.prod(run.griddim))
        if n <= per_block * blocks:
            return None
        return f"{n} atomics on {array} from {blocks} blocks: at most {per_block} per block. {why}".strip()
    return requirement


def _small(a) -> str:
    return np.array2string(np.asarray(a), precision=4, threshold=16, edgeitems=3, max_line_width=100)


@dataclass
class Case:
    """One launch of a kernel exercise: the arguments (outputs included), the launch, and how to name it."""
    args: tuple
    griddim: Any
    block: Any
    where: str | None = None          # default "name[grid, block] on shape S"
    shape: Any = None
    hints: dict = field(default_factory=dict)      # merged over the exercise's hints for this launch


@dataclass
class Run:
    """What a diagnosis sees of one launch: the trace, the arguments before (`args`) and after (`out`) it,
    the expected outputs (`want`), and the check's keyword arguments (`kw`, e.g. the learner's tile)."""
    where: str
    griddim: Any
    block: Any
    shape: Any
    names: list
    args: tuple
    out: tuple
    want: dict
    trace: Any
    kw: dict

    @property
    def problem(self):
        return next((p for p in self.trace.problems if p.kind in BAD), None)

    @property
    def nthreads(self) -> int:
        return int(np.prod(self.griddim)) * int(np.prod(self.block))

    def before(self, name):
        return self.args[self.names.index(name)]

    def after(self, name):
        return self.out[self.names.index(name)]

    def written(self, name) -> np.ndarray:
        return (self.trace.counts(name, "write") + self.trace.counts(name, "atomic")) > 0

    def close(self, name, value, rtol, atol) -> bool:
        got = self.after(name)
        return np.shape(got) == np.shape(value) and bool(np.allclose(got, value, rtol=rtol, atol=atol, equal_nan=True))


@dataclass
class KernelExercise:
    """A kernel checked under the tracer against a NumPy reference: the one framework of kernel exercises.

    make_args(rng, shape) -> the kernel's arguments (NumPy arrays and scalars), outputs included.
    reference(*args) -> {argument name: expected array}, computed from the inputs before the launch.
    shapes: problem shapes, smallest first: include 1, 0 where legal, and non-multiples of the block.
    blocks: block shapes to launch with (ints for 1D, (x, y) for 2D).
    grid(shape, block) -> grid; default `grid_for`, one thread per element. A learner's own grid
    function can be passed to the check as `grid=`.
    cases(rng, **kw) -> [Case]: the launches instead of shapes x blocks, for launches of their own (a matmul's
    M, K, N with the learner's tile, which the check receives as keyword arguments: `check(kernel, tile=16)`).
    float32: the exercise asks for float32 arithmetic, so float64 accumulators and arrays are flagged.
    hints: extra words per problem kind ("race", "out_of_bounds", "divergent_barrier", ...; "race:partial"
    for one array), "unwritten" (replaces the words on elements never written) and "wrong" (after the
    values that are wrong); a value may be a function of the `Run`.
    diagnose: [f(run) -> why or None], lesson-specific diagnoses tried first on every launch (they see the
    trace's problems and the results).
    mistakes: [(wrong(*args) -> {name: array}, why)]: known-wrong formulas, recognised by reproducing the
    learner's outputs, the kernel counterpart of FunctionExercise.mistakes.
    requires: [f(run) -> why or None] for a launch whose values are right: `coalesced(...)`,
    `uses_shared()`, `tiled_reads(...)`, `at_most_atomics(...)`.
    """
    name: str
    make_args: Callable | None = None
    reference: Callable | None = None
    shapes: list = field(default_factory=list)
    blocks: list = field(default_factory=list)
    grid: Callable = grid_for
    cases: Callable | None = None
    float32: bool = False
    rtol: float = 1e-5
    atol: float = 1e-6
    hints: dict = field(default_factory=dict)
    diagnose: list = field(default_factory=list)
    mistakes: list = field(default_factory=list)
    requires: list = field(default_factory=list)
    seed: int = 0

    def _cases(self, rng, grid, kw):
        if self.cases is not None:
            yield from self.cases(rng, **kw)
            return
        for shape in self.shapes:
            shape = shape if isinstance(shape, tuple) else (shape,)
            base = self.make_args(rng, shape)
            for block in self.blocks:
                yield Case(base, (grid or self.grid)(shape, block), block, shape=shape)

    def __call__(self, kernel, grid: Callable | None = None, **kw):
        from gpuviz.tracer.kernelsource import python_function

        try:
            names = list(inspect.signature(python_function(kernel)).parameters)
        except TypeError:
            return False, f"expected the @cuda.jit kernel {self.name}, got {type(kernel).__name__}."
        rng = np.random.default_rng(self.seed)
        launches = 0
        for case in self._cases(rng, grid, kw):
            why = self._one(kernel, names, case, learner_grid=grid is not None, kw=kw)
            if why:
                return False, why
            launches += 1
        if self.float32:
            why = float64_message(kernel) or float64_array_message(kernel)
            if why:
                return False, why
        return True, f"{launches} launch{'es' if launches != 1 else ''} checked under the tracer"

    def _launch(self, kernel, griddim, block, args):
        """(trace, args after the launch) or (None, why it could not run)."""
        from gpuviz.launch import LaunchError
        from gpuviz.tracer.scheduler import trace

        args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
        try:
            return trace(kernel, griddim, block, *args), args
        except NotImplementedError:
            return None, NOT_DONE
        except LaunchError as e:
            return None, f"the launch [{griddim}, {block}] was refused: {e}"
        except Exception as e:  # noqa: BLE001 the learner's code
            return None, f"your kernel raised {type(e).__name__}: {e}"

    def _correct(self, names, t, args, want) -> bool:
        return t is not None and not any(p.kind in BAD for p in t.problems) and all(
            np.allclose(args[names.index(k)], v, rtol=self.rtol, atol=self.atol, equal_nan=True)
            for k, v in want.items())

    def _transposed(self, kernel, names, args, griddim, block, want) -> bool:
        """Would the kernel be right if the launch's x and y were swapped? Then it maps x to rows."""
        if isinstance(block, int) or len(block) != 2:
            return False
        t, out = self._launch(kernel, tuple(reversed(griddim)), tuple(reversed(block)), args)
        return self._correct(names, t, out, want)

    def _one(self, kernel, names, case: Case, learner_grid, kw) -> str | None:
        args, griddim, block = case.args, case.griddim, case.block
        copy = lambda: tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)   # noqa: E731
        want = self.reference(*copy())
        t, out = self._launch(kernel, griddim, block, args)
        where = case.where or f"{self.name}[{griddim}, {block}] on shape {case.shape}"
        if t is None:
            return f"{where}: {'wrong grid size: ' if learner_grid and 'refused' in out else ''}{out}"
        run = Run(where, griddim, block, case.shape, names, copy(), out, want, t, kw)
        hints = {**self.hints, **case.hints}

        def hint(key, default=""):
            h = hints.get(key, default)
            return h(run) if callable(h) else h

        for diagnosis in self.diagnose:
            why = diagnosis(run)
            if why:
                return f"{where}: {why}"
        swapped = f"index mapping transposed: the kernel is right only when the launch's x and y are swapped. {COL_ROW}"
        p = run.problem
        if p is not None and p.kind in ("out_of_bounds", "negative_index"):
            if self._transposed(kernel, names, args, griddim, block, want):
                return f"{where}: {swapped}"
            space = t.arrays[p.array].space if p.array in t.arrays else "global"
            label = GUARD if run.nthreads > int(np.prod(case.shape or 1)) and space != "shared" else ""
            return f"{where}: {label}{p.message} {hint(f'{p.kind}:{p.array}', hint(p.kind))}".strip()
        if p is not None:
            label = {"divergent_barrier": "barrier not reached by every thread: "}.get(p.kind, "")
            if p.kind == "race":
                shared = p.array in t.arrays and t.arrays[p.array].space == "shared"
                label = ("missing barrier (cuda.syncthreads()) between a write to shared memory and another "
                         "thread's access: " if shared else "several threads write the same element: ")
            return f"{where}: {label}{p.message} {hint(f'{p.kind}:{p.array}', hint(p.kind))}".strip()
        for k, a in enumerate(args):
            if isinstance(a, np.ndarray) and names[k] not in want and not np.array_equal(a, out[k], equal_nan=True):
                return (f"{where}: your kernel changed {names[k]}, an input: write the result into "
                        f"{' and '.join(want)} only, leave the inputs alone.")
        for k, v in want.items():
            got = out[names.index(k)]
            if run.close(k, v, self.rtol, self.atol):
                continue
            if self._transposed(kernel, names, args, griddim, block, want):
                return f"{where}: {swapped}"
            for wrong, why in self.mistakes:
                w = wrong(*copy())
                if all(run.close(n, np.asarray(x), self.rtol, self.atol) for n, x in w.items()):
                    return f"{where}: {why}"
            written = run.written(k) if k in t.arrays else np.ones(v.shape, bool)
            if not written.all():
                missing = int((~written).sum())
                if "unwritten" in hints:
                    return (f"{where} ({run.nthreads} threads for {v.size} elements): {missing} of {v.size} "
                            f"elements of {k} were never written. {hint('unwritten')}").strip()
                if run.nthreads < v.size:
                    return (f"{where}: wrong grid size: {int(np.prod(griddim))} blocks of {int(np.prod(block))} "
                            f"threads are {run.nthreads} threads for {v.size} elements, so {missing} elements "
                            f"of {k} were never written. " +
                            (ROUND_UP if learner_grid else
                             "This launch has fewer threads than elements on purpose: loop with a stride of "
                             "cuda.gridsize(1) so each thread handles several elements."))
                per_block = int(np.prod(block))
                if written.ravel()[:per_block].all() and not written.ravel()[per_block:].any():
                    return (f"{where}: only the first {per_block} elements of {k} were written (by block 0): the "
                            f"index ignores the block. {BLOCK_INDEX}")
                return f"{where}: {missing} of {v.size} elements of {k} were never written."
            return f"{where}: {mismatch(got, v, k, self.rtol, self.atol)} {hint('wrong')}".strip()
        for requirement in self.requires:
            why = requirement(run)
            if why:
                return f"{where}: {why}"
        return None


# ---------------------------------------------------------------- predictions

def predicted_numbers(value, model: dict, mistakes, *, what: str, unit: str, rtol: float):
    """A prediction, {name: number}, against the model's {name: number}: each within `rtol` (relative) of
    the model's value passes. For the first number that is off, a known wrong value (`mistakes`: (name,
    wrong number, why), matched within the same tolerance) names the mistake. The check of every predict-then-measure exercise (04, 10, 11)."""
    keys = list(model)
    single = len(keys) == 1 and not isinstance(value, dict)      # one number: `what` itself, not a dict
    if single:
        value = {keys[0]: value}
    if value is None or isinstance(value, dict) and all(v is None for v in value.values()):
        return False, f"not done yet: replace each None in `{what}` with your prediction, then run this cell again."
    if not isinstance(value, dict) or set(value) != set(keys):
        got = sorted(value) if isinstance(value, dict) else type(value).__name__
        return False, f"`{what}` should be a dict with the keys {keys} (got {got})."
    for k in keys:
        v = value[k]
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            return False, f"`{what if single else f'{what}[{k!r}]'}` should be a number in {unit}, got {v!r}."

    def close(v, w):
        return math.isfinite(float(v)) and abs(float(v) - w) <= rtol * abs(w)

    def fmt(v):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"

    for k in keys:
        v = float(value[k])
        if close(v, model[k]):
            continue
        shown = f"{what if single else f'{what}[{k!r}]'} = {fmt(v)} {unit}"
        for name, wrong, why in mistakes:
            if name == k and close(v, wrong):
                return False, f"{shown}: {why}"
        return False, (f"{shown} is not within {rtol:.0%} of the model's value. Work it out again step by step "
                       "from the text above, minding the units.")
    return True, "within {:.0%} of the model: {}".format(
        rtol, ", ".join(f"{'' if single else k + ' '}{fmt(model[k])} {unit}" for k in keys))
