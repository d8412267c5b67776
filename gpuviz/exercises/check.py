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
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STRICT_ENV = "GPUVIZ_STRICT"
NOT_DONE = "not done yet: replace `raise NotImplementedError()` with your code, then run this cell again."

__all__ = ["CheckFailed", "FunctionExercise", "KernelExercise", "Result", "check", "passed", "strict_mode"]


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


def literal_accumulators(kernel) -> list[tuple[str, int, str]]:
    """(name, line, literal) for each variable that starts from a bare number literal and is then
    accumulated into (`+=`, `-=`, `*=`). Numba types such a variable float64 (or int64, which turns
    float64 once a float32 is added), so the accumulation runs in double precision on the GPU."""
    from gpuviz.tracer.kernelsource import python_function

    fn = python_function(kernel)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return []
    first = fn.__code__.co_firstlineno - 1
    inits, found = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            v = node.value
            if isinstance(v, ast.Constant) and type(v.value) in (int, float):
                inits.setdefault(node.targets[0].id, (node.lineno + first, ast.unparse(v)))
    for node in ast.walk(tree):
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id in inits \
                and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
            name = node.target.id
            if name not in [f[0] for f in found]:
                found.append((name, *inits[name]))
    return found


def _small(a) -> str:
    return np.array2string(np.asarray(a), precision=4, threshold=16, edgeitems=3, max_line_width=100)


@dataclass
class KernelExercise:
    """A kernel checked under the tracer against a NumPy reference.

    make_args(rng, shape) -> the kernel's arguments (NumPy arrays and scalars), outputs included.
    reference(*args) -> {argument name: expected array}, computed from the inputs before the launch.
    shapes: problem shapes, smallest first: include 1, 0 where legal, and non-multiples of the block.
    blocks: block shapes to launch with (ints for 1D, (x, y) for 2D).
    grid(shape, block) -> grid; default `grid_for`, one thread per element. A learner's own grid
    function can be passed to the check as `grid=`.
    float32: the exercise asks for float32 arithmetic, so literal accumulators are flagged.
    hints: extra words per problem kind ("race", "out_of_bounds", ...) for this exercise.
    """
    name: str
    make_args: Callable
    reference: Callable
    shapes: list
    blocks: list
    grid: Callable = grid_for
    float32: bool = False
    rtol: float = 1e-5
    atol: float = 1e-6
    hints: dict = field(default_factory=dict)
    seed: int = 0

    def __call__(self, kernel, grid: Callable | None = None):
        from gpuviz.tracer.kernelsource import python_function

        try:
            names = list(inspect.signature(python_function(kernel)).parameters)
        except TypeError:
            return False, f"expected the @cuda.jit kernel {self.name}, got {type(kernel).__name__}."
        rng = np.random.default_rng(self.seed)
        cases = 0
        for shape in self.shapes:
            shape = shape if isinstance(shape, tuple) else (shape,)
            base = self.make_args(rng, shape)
            for block in self.blocks:
                griddim = (grid or self.grid)(shape, block)
                why = self._one(kernel, names, shape, base, griddim, block, learner_grid=grid is not None)
                if why:
                    return False, why
                cases += 1
        if self.float32:
            acc = literal_accumulators(kernel)
            if acc:
                name, line, lit = acc[0]
                return False, (f"float64 accumulation where float32 was asked: `{name} = {lit}` (line {line}) "
                               f"makes {name} a 64-bit variable in Numba, so every `{name} +=` runs in double "
                               f"precision, many times slower on most GPUs. Start from `{name} = float32({lit})`.")
        return True, f"{cases} launches checked under the tracer"

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
        return t is not None and not t.problems and all(
            np.allclose(args[names.index(k)], v, rtol=self.rtol, atol=self.atol, equal_nan=True)
            for k, v in want.items())

    def _transposed(self, kernel, names, args, griddim, block, want) -> bool:
        """Would the kernel be right if the launch's x and y were swapped? Then it maps x to rows."""
        if isinstance(block, int) or len(block) != 2:
            return False
        t, out = self._launch(kernel, tuple(reversed(griddim)), tuple(reversed(block)), args)
        return self._correct(names, t, out, want)

    def _one(self, kernel, names, shape, args, griddim, block, learner_grid) -> str | None:
        want = self.reference(*(a.copy() if isinstance(a, np.ndarray) else a for a in args))
        t, out = self._launch(kernel, griddim, block, args)
        where = f"{self.name}[{griddim}, {block}] on shape {shape}"
        if t is None:
            return f"{where}: {'wrong grid size: ' if learner_grid and 'refused' in out else ''}{out}"
        nthreads = int(np.prod(griddim)) * int(np.prod(block))
        swapped = ("index mapping transposed: the kernel is right only when the launch's x and y are swapped. "
                   "cuda.grid(2) returns (x, y), and x runs along columns: `col, row = cuda.grid(2)`.")
        bad = [p for p in t.problems if p.kind in ("out_of_bounds", "negative_index")]
        if bad:
            if self._transposed(kernel, names, args, griddim, block, want):
                return f"{where}: {swapped}"
            label = "missing guard (the grid has more threads than elements, so the extra threads must " \
                    "do nothing): " if nthreads > int(np.prod(shape)) else ""
            return f"{where}: {label}{bad[0].message} {self.hints.get(bad[0].kind, '')}".strip()
        if t.problems:
            p = t.problems[0]
            label = {"divergent_barrier": "barrier not reached by every thread: "}.get(p.kind, "")
            if p.kind == "race":
                shared = p.array in t.arrays and t.arrays[p.array].space == "shared"
                label = ("missing barrier (cuda.syncthreads()) between a write to shared memory and another "
                         "thread's access: " if shared else "several threads write the same element: ")
            return f"{where}: {label}{p.message} {self.hints.get(p.kind, '')}".strip()
        for k, v in want.items():
            got = out[names.index(k)]
            if np.allclose(got, v, rtol=self.rtol, atol=self.atol, equal_nan=True):
                continue
            if self._transposed(kernel, names, args, griddim, block, want):
                return f"{where}: {swapped}"
            written = (t.counts(k, "write") + t.counts(k, "atomic")) > 0 if k in t.arrays else np.ones(v.shape, bool)
            if not written.all():
                missing = int((~written).sum())
                if nthreads < v.size:
                    return (f"{where}: wrong grid size: {int(np.prod(griddim))} blocks of {int(np.prod(block))} "
                            f"threads are {nthreads} threads for {v.size} elements, so {missing} elements "
                            f"of {k} were never written. " +
                            ("Round the number of blocks up: (n + threads - 1) // threads." if learner_grid else
                             "This launch has fewer threads than elements on purpose: loop with a stride of "
                             "cuda.gridsize(1) so each thread handles several elements."))
                per_block = int(np.prod(block))
                if written.ravel()[:per_block].all() and not written.ravel()[per_block:].any():
                    return (f"{where}: only the first {per_block} elements of {k} were written: the index "
                            "ignores the block. Use cuda.grid(1) (= blockIdx.x * blockDim.x + threadIdx.x).")
                return f"{where}: {missing} of {v.size} elements of {k} were never written."
            wrong = ~np.isclose(got, v, rtol=self.rtol, atol=self.atol, equal_nan=True)
            first = tuple(int(i) for i in np.argwhere(wrong)[0])
            return (f"{where}: {int(wrong.sum())} of {v.size} values of {k} are wrong, the first at {k}"
                    f"[{', '.join(map(str, first))}].\n  expected {k} = {_small(v)}\n  got      {k} = {_small(got)}")
        return None
