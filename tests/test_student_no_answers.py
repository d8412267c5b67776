"""No answers in the student notebooks: a learner who opens `notebooks/NN_*.ipynb` and runs it must not
find an exercise's answer there, neither written in a later cell, nor printed from the package with
`show(...)`, nor pointed at ("the package's X is the solution").

For every solution region of `course/solutions/NN_*.ipynb` (the lines `gpuviz student` strips, between
`### BEGIN SOLUTION` and `### END SOLUTION`), its code must not appear in `notebooks/NN_*.ipynb`. Code is
compared line by line with comments and whitespace dropped and local names renamed in order of first
use (`max(0, (free_bytes - fixed) // per_sample)` is the same code as `max(0, (f - x) // s)`); trivial
lines (`return`, `pass`, `else:`, a single name or number) are ignored. A kernel's skeleton has one region
per step, each compared on its own; a region that is only calls with no arguments (the step "wait" is
`cuda.syncthreads()`) names an API the lesson teaches, and is no answer on its own. Inside a longer region
such a call counts like any line: where `torch.cuda.synchronize()` goes can be the answer. The source of every kernel a
student notebook prints with `show(...)` or `inspect.getsource(...)` counts as part of the notebook.

A formula answer (a region's `return <expr>`, or an assignment `name = <expr>` whose name the region does not use
again) is also compared as an expression, with the region's earlier assignments substituted into it:
`flops = 2 * n**3; nbytes = ...; return flops / nbytes` is the formula `2*n**3/(4*(2*n**3+n**2))`. Each name in
it stands for any expression, the same one wherever it recurs, so `2 * N**3 / (4 * (2 * N**3 + N**2))` and
`2 * 4096**3 / (4 * (2 * 4096**3 + 4096**2))` are that answer, found in any expression of any code cell, inline
code span or fenced block of the student notebook (LaTeX is not read). A formula with no names is also compared
by its value when that is not a whole number: `1 / 6` is the answer `2 / (3 * 4)`. Formulas with fewer than two
operations (`x / y`, a single name or number) are too common to be an answer and are not compared.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import itertools
import keyword
import re
import textwrap
from pathlib import Path

import nbformat
import pytest

from gpuviz.course import student as S

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "course" / "solutions").glob("[0-9][0-9]_*.ipynb"))
KEEP = set(keyword.kwlist) | set(dir(builtins))                 # names that are not renamed
TOKEN = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|\*\*|//|[=!<>]=|->|\S")
TRIVIAL = re.compile(r"^(return|pass|break|continue|else:|try:|finally:|except\w*:?|\)|\]|\}|[\w.]+|return [\w.]+)$")
BARE_CALL = re.compile(r"^[\w.]+\(\)$")      # `cuda.syncthreads()`: names an API, no answer on its own


# ---------------------------------------------------------------- comparing code

def _drop_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def code_lines(text: str) -> list[str]:
    """The non-trivial lines of `text`: comments dropped, whitespace collapsed, markers removed."""
    out = []
    for line in text.split("\n"):
        line = re.sub(r"\s+", " ", _drop_comment(line)).strip()
        if line and not TRIVIAL.match(line) and not line.startswith("###"):
            out.append(line)
    return out


def canonical(lines: list[str]) -> tuple:
    """Tokens of `lines`, local names renamed _0, _1, ... in order of first use (attributes and builtins kept)."""
    names: dict[str, str] = {}
    out = []
    for line in lines:
        toks = TOKEN.findall(line)
        for i, t in enumerate(toks):
            if (t[0].isalpha() or t[0] == "_") and t not in KEEP and not (i and toks[i - 1] == "."):
                toks[i] = names.setdefault(t, f"_{len(names)}")
        out.append(" ".join(toks))
    return tuple(out)


def _expression(line: str) -> list[str]:
    """The tokens of a one-line answer without its `return` or `name =`: the part that gives it away."""
    toks = TOKEN.findall(line)
    if toks[:1] == ["return"]:
        return toks[1:]
    if len(toks) > 2 and re.fullmatch(r"[A-Za-z_]\w*", toks[0]) and toks[1] == "=":
        return toks[2:]
    return toks


def contains(haystack: list[str], needle: list[str]) -> bool:
    """Does `haystack` hold the lines of `needle`, consecutively, as the same code up to renaming? A one-line
    answer also counts when its expression (5 tokens or more) is part of a line: `print(max(0, (f - x) // s))`."""
    want, n = canonical(needle), len(needle)
    if any(canonical(haystack[i:i + n]) == want for i in range(len(haystack) - n + 1)):
        return True
    expr = _expression(needle[0]) if n == 1 else []
    if len(expr) < 5:
        return False
    want, k = canonical([" ".join(expr)]), len(expr)
    for line in haystack:
        toks = TOKEN.findall(line)
        if any(canonical([" ".join(toks[i:i + k])]) == want for i in range(len(toks) - k + 1)):
            return True
    return False


# ---------------------------------------------------------------- comparing formulas

OPERATIONS = (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call, ast.Subscript, ast.IfExp)


class _Inline(ast.NodeTransformer):
    def __init__(self, env):
        self.env = env

    def visit_Name(self, node):
        return self.env.get(node.id, node) if isinstance(node.ctx, ast.Load) else node


def _value(node):
    """The value of an expression made of numbers and arithmetic only, or None."""
    if not all(isinstance(n, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator, ast.unaryop))
               for n in ast.walk(node)) or not isinstance(node, (ast.BinOp, ast.UnaryOp)):
        return None
    try:
        value = eval(compile(ast.Expression(node), "<formula>", "eval"), {"__builtins__": {}})
    except Exception:  # noqa: BLE001 1 / 0, huge powers, ...
        return None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _fraction(node):
    """The value of a numbers-only formula when it is not a whole number (`2 / (3 * 4)`), else None."""
    value = _value(node)
    return value if isinstance(value, float) and value == value and not value.is_integer() else None


def _worth_comparing(node) -> bool:
    """Two operations or more, or a literal container of three items or more (`{1: 512, 2: "b", ...}`)."""
    if isinstance(node, (ast.Dict, ast.List, ast.Tuple, ast.Set)):
        return len(getattr(node, "keys", None) or node.elts) >= 3
    return sum(isinstance(n, OPERATIONS) for n in ast.walk(node)) >= 2


def _region_texts(nb):
    """(cell index, source) of every solution region in an instructor notebook's code cells."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        region = None
        for line in cell.source.split("\n"):
            mark = line.strip()
            if mark == S.BEGIN_SOLUTION:
                region = []
            elif mark == S.END_SOLUTION:
                yield i, "\n".join(region)
                region = None
            elif region is not None:
                region.append(line)


def solution_formulas(nb) -> list[tuple[int, ast.expr]]:
    """(cell index, formula) of every formula answer of an instructor notebook: each solution region's `return`
    values and its final assignments `name = expr`, earlier assignments of the region substituted in."""
    return [(i, f) for i, text in _region_texts(nb) for f in _formulas(textwrap.dedent(text))]


def _formulas(code: str) -> list[ast.expr]:
    try:
        body = ast.parse(code).body
    except SyntaxError:          # a region inside a loop's body, ...: its lines are compared as code above
        return []
    env, out = {}, []
    for k, stmt in enumerate(body):
        if isinstance(stmt, ast.Return) and stmt.value is not None:
            out.append(_Inline(env).visit(stmt.value))
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, value = stmt.targets[0].id, _Inline(env).visit(stmt.value)
            env[name] = value
            used_later = any(isinstance(n, ast.Name) and n.id == name for s in body[k + 1:] for n in ast.walk(s))
            if not used_later:
                out.append(value)
    return [f for f in out if _worth_comparing(f) or _fraction(f) is not None]


def _same(a, b) -> bool:
    return ast.dump(a, annotate_fields=False) == ast.dump(b, annotate_fields=False)


def _factors(node, num: list, den: list, up: bool = True):
    """Flatten a chain of `*` and `/` into the factors above and below the line."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
        _factors(node.left, num, den, up)
        _factors(node.right, num, den, up if isinstance(node.op, ast.Mult) else not up)
    else:
        (num if up else den).append(node)
    return num, den


def _matches_product(pattern, node, bound: dict) -> bool:
    """`a * b / c` against a product in any order (`b / c * a`), each factor matched as in `_matches`."""
    (pn, pd), (nn, nd) = _factors(pattern, [], []), _factors(node, [], [])
    if (len(pn), len(pd)) != (len(nn), len(nd)) or len(pn) + len(pd) > 6:
        return False
    for num in itertools.permutations(nn):
        for den in itertools.permutations(nd):
            trial = dict(bound)
            if all(_matches(a, b, trial) for a, b in zip(pn + pd, list(num) + list(den))):
                bound.update(trial)
                return True
    return False


def _matches(pattern, node, bound: dict) -> bool:
    """Is `node` the formula `pattern`, each of its names (builtins kept) standing for one expression? Products
    and quotients match in any order of their factors."""
    if isinstance(pattern, ast.BinOp) and isinstance(pattern.op, (ast.Mult, ast.Div)) \
            and isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
        return _matches_product(pattern, node, bound)
    if isinstance(pattern, ast.Name) and pattern.id not in KEEP:
        if pattern.id in bound:
            return _same(bound[pattern.id], node)
        bound[pattern.id] = node
        return True
    if type(pattern) is not type(node):
        return False
    if isinstance(pattern, ast.Constant):
        return pattern.value == node.value and type(pattern.value) is type(node.value)
    for field in pattern._fields:
        if field == "ctx":
            continue
        a, b = getattr(pattern, field, None), getattr(node, field, None)
        if isinstance(a, list):
            if not isinstance(b, list) or len(a) != len(b) or not all(
                    _matches(x, y, bound) if isinstance(x, ast.AST) else x == y for x, y in zip(a, b)):
                return False
        elif isinstance(a, ast.AST):
            if not isinstance(b, ast.AST) or not _matches(a, b, bound):
                return False
        elif a != b:
            return False
    return True


def _parse(text: str):
    """The module of a cell's code, IPython's `%magic` and `!shell` lines dropped; None if it is no Python."""
    lines = ["" if re.match(r"\s*[%!]", line) else line for line in text.split("\n")]
    try:
        return ast.parse(textwrap.dedent("\n".join(lines)))
    except SyntaxError:
        return None


def visible_trees(nb) -> list[tuple[str, ast.AST]]:
    """(where, syntax tree) of every code cell, every fenced block and inline code span of the markdown cells
    that parses as Python, and every package source the notebook prints."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            texts = [cell.source]
        elif cell.cell_type == "markdown":
            texts = (re.findall(r"```[^\n]*\n(.*?)```", cell.source, re.S)
                     + re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", cell.source, flags=re.S)))
        else:
            continue
        kind = "" if cell.cell_type == "code" else " (markdown)"
        out += [(f"cell {i}{kind}", tree) for tree in map(_parse, texts) if tree is not None]
    for i, expr, src in printed_sources(nb):
        tree = _parse(src)
        if tree is not None:
            out.append((f"cell {i}, the source that `show({expr})` prints", tree))
    return out


def formula_leaks(source_nb, student_nb) -> list[str]:
    """Each formula answer of `source_nb` that an expression of `student_nb` writes out, and where."""
    found = []
    formulas = solution_formulas(source_nb)
    for where, tree in visible_trees(student_nb):
        for node in ast.walk(tree):
            if not isinstance(node, ast.expr):
                continue
            value = _fraction(node)
            for cell, formula in formulas:
                answer = _fraction(formula)
                if _matches(formula, node, {}) or (
                        value is not None and answer is not None and abs(value - answer) <= 1e-9 * abs(answer)):
                    found.append(f"the answer in cell {cell} of the source ({ast.unparse(formula)!r}) appears in "
                                 f"{where} as {ast.unparse(node)!r}")
    return found


# ---------------------------------------------------------------- the notebooks

def solution_regions(nb) -> list[tuple[int, list[str]]]:
    """(cell index, non-trivial lines) of every solution region in an instructor notebook's code cells."""
    return [(i, lines) for i, text in _region_texts(nb) if (lines := code_lines(text))]


def _aliases(nb) -> dict[str, str]:
    """Names a notebook binds to gpuviz modules: `from gpuviz import matmul_kernels as mk` -> {"mk": ...}."""
    out = {"gv": "gpuviz"}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for m in re.finditer(r"^\s*from (gpuviz[\w.]*) import (.+)$", cell.source, re.M):
            for part in m.group(2).split(","):
                name, _, alias = part.strip().partition(" as ")
                out[(alias or name).strip()] = f"{m.group(1)}.{name.strip()}"
        for m in re.finditer(r"^\s*import (gpuviz[\w.]*) as (\w+)", cell.source, re.M):
            out[m.group(2)] = m.group(1)
    return out


def _resolve(dotted: str):
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for p in parts[cut:]:
            obj = getattr(obj, p)
        return obj
    raise ImportError(dotted)


PRINTS = re.compile(r"\b(?:show|getsource)\(\s*(?:python_function\(\s*)?([A-Za-z_][\w.]*)")


def printed_sources(nb) -> list[tuple[int, str, str]]:
    """(cell index, expression, source) of every package object the notebook prints with show(...) or
    inspect.getsource(...); objects defined in the notebook itself are its own code, already compared."""
    from gpuviz.tracer.kernelsource import python_function

    aliases, out = _aliases(nb), []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for m in PRINTS.finditer(cell.source):
            head, _, rest = m.group(1).partition(".")
            if head not in aliases:
                continue
            obj = _resolve(aliases[head] + ("." + rest if rest else ""))
            try:
                out.append((i, m.group(1), inspect.getsource(python_function(obj))))
            except (TypeError, OSError):
                continue
    return out


def visible_code(nb) -> list[tuple[str, list[str]]]:
    """(where, lines) of everything a learner sees or prints: each code cell, the code in each markdown
    cell (inline `spans` and fenced blocks), and the source of each package kernel printed."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            out.append((f"cell {i}", code_lines(cell.source)))
        elif cell.cell_type == "markdown":
            fenced = re.findall(r"```[^\n]*\n(.*?)```", cell.source, re.S)
            spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", cell.source, flags=re.S))
            out.append((f"cell {i} (markdown)", code_lines("\n".join(fenced + spans))))
    for i, expr, src in printed_sources(nb):
        out.append((f"cell {i}, the source that `show({expr})` prints", code_lines(src)))
    return out


def leaks(source_nb, student_nb) -> list[str]:
    """Each solution region of `source_nb` whose code appears in `student_nb`, and where."""
    found = []
    seen = visible_code(student_nb)
    for cell, region in solution_regions(source_nb):
        if all(BARE_CALL.match(line) for line in region):
            continue
        for where, lines in seen:
            if contains(lines, region):
                found.append(f"the answer in cell {cell} of the source ({region[0]!r} ...) appears in {where}")
    return found


def answer_objects() -> dict[str, str]:
    """Package kernels and functions that hold an exercise's answer: {qualified name: where the answer is}."""
    import importlib
    import pkgutil

    import gpuviz
    from gpuviz.tracer.kernelsource import python_function

    regions = [(p.stem, cell, lines) for p in SOURCES for cell, lines in solution_regions(nbformat.read(p, as_version=4))]
    out = {}
    for mod in pkgutil.iter_modules(gpuviz.__path__, "gpuviz."):
        if mod.name.startswith("gpuviz.exercises") or mod.name in ("gpuviz.__main__",):
            continue
        try:
            module = importlib.import_module(mod.name)
        except Exception:  # noqa: BLE001 optional dependencies (triton, ...)
            continue
        for name, obj in vars(module).items():
            try:
                fn = python_function(obj)
                if getattr(fn, "__module__", None) != mod.name:
                    continue
                lines = code_lines(inspect.getsource(fn))
            except (TypeError, OSError):
                continue
            for stem, cell, region in regions:
                if len(region) > 1 and contains(lines, region):
                    out[f"{mod.name}.{name}"] = f"{stem} cell {cell}"
    return out


def says_where_the_solution_is(nb) -> list[str]:
    """Cells whose text points at a solution ("the package's X is the solution above", "# the solution of
    exercise 2"): a student notebook never needs the word."""
    return [f"cell {i}: {m.group(0)!r}" for i, cell in enumerate(nb.cells)
            for m in re.finditer(r".{0,60}\bsolutions?\b.{0,40}", cell.source, re.I)]


# ---------------------------------------------------------------- the tests

# Known leaks with their own item in issue 18; strict: the test fails once they are fixed, so the entry goes.
KNOWN: dict[str, str] = {}


@pytest.mark.parametrize("src", [pytest.param(p, marks=pytest.mark.xfail(reason=KNOWN[p.stem], strict=True))
                                 if p.stem in KNOWN else p for p in SOURCES], ids=[p.stem for p in SOURCES])
def test_no_answer_code_in_the_student_notebook(src):
    student = ROOT / "notebooks" / src.name
    found = leaks(nbformat.read(src, as_version=4), nbformat.read(student, as_version=4))
    assert not found, (f"{student.relative_to(ROOT)} holds an exercise's answer: " + "; ".join(found)
                       + ". Use the learner's code under `if gv.passed(ID):`, or a package object that is not "
                         "the answer.")



@pytest.mark.parametrize("src", SOURCES, ids=[p.stem for p in SOURCES])
def test_no_answer_formula_in_the_student_notebook(src):
    student = nbformat.read(ROOT / "notebooks" / src.name, as_version=4)
    unread = [i for i, c in enumerate(student.cells) if c.cell_type == "code" and _parse(c.source) is None]
    assert not unread, f"notebooks/{src.name}: code cells {unread} do not parse, so they were not searched"
    found = formula_leaks(nbformat.read(src, as_version=4), student)
    assert not found, (f"notebooks/{src.name} writes out an exercise's formula: " + "; ".join(found)
                       + ". Compare with the learner's answer under `if gv.passed(ID):`, or compute the value "
                         "from what the tracer counted.")

@pytest.mark.parametrize("src", SOURCES, ids=[p.stem for p in SOURCES])
def test_no_student_notebook_says_where_a_solution_is(src):
    student = nbformat.read(ROOT / "notebooks" / src.name, as_version=4)
    found = says_where_the_solution_is(student)
    assert not found, f"notebooks/{src.name} points at a solution: " + "; ".join(found)


def test_no_student_notebook_shows_a_package_answer():
    answers = answer_objects()
    shown = []
    for src in SOURCES:
        nb = nbformat.read(ROOT / "notebooks" / src.name, as_version=4)
        aliases = _aliases(nb)
        for i, expr, _ in printed_sources(nb):
            head, _, rest = expr.partition(".")
            obj = _resolve(aliases[head] + ("." + rest if rest else ""))
            qual = f"{obj.__module__}.{getattr(obj, '__name__', rest)}" if hasattr(obj, "__module__") else expr
            if qual in answers:
                shown.append(f"{src.name} cell {i}: show({expr}) prints the answer of {answers[qual]}")
    assert not shown, "; ".join(shown)


# ---------------------------------------------------------------- the detector itself

def test_the_package_answers_are_found():
    """The ladder's kernels that are exercises' answers are recognised, whatever their tile constants;
    the kernels shown as problems (naive_traps) or that are no exercise (regblock2d) are not."""
    answers = answer_objects()
    for name in ("matmul_coalesced", "matmul_tiled", "matmul_regblock1d"):
        assert f"gpuviz.matmul_kernels.{name}" in answers, answers
    for name in ("naive_traps", "naive_rows", "naive_float64", "matmul_regblock2d"):
        assert f"gpuviz.matmul_kernels.{name}" not in answers


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) if not c.startswith("MD ") else nbformat.v4.new_markdown_cell(c[3:])
                for c in cells]
    return nb


SOURCE = _nb("def max_batch(free_bytes, fixed_bytes, bytes_per_sample):\n    ### BEGIN SOLUTION\n"
             "    return max(0, (free_bytes - fixed_bytes) // bytes_per_sample)\n    ### END SOLUTION",
             "from gpuviz import matmul_kernels as mk\n@cuda.jit\ndef matmul_coalesced(A, B, C):\n"
             "    ### BEGIN SOLUTION\n" + inspect.getsource(_resolve("gpuviz.matmul_kernels.matmul_coalesced")
                                                        .py_func).split(":\n", 1)[1] + "    ### END SOLUTION")


@pytest.mark.parametrize("cells,where", [
    (["def predict(free):\n    return max(0, (free - fixed) // per_sample)    # renamed"], "cell 0"),
    (["from gpuviz import matmul_kernels as mk", "show(mk.matmul_coalesced)"], "show(mk.matmul_coalesced)"),
    (["import inspect\nfrom gpuviz import matmul_kernels as mk",
      "print(inspect.getsource(mk.matmul_coalesced.py_func))"], "show(mk.matmul_coalesced.py_func)"),
    (["MD The answer is `max(0, (a - b) // c)`."], "cell 0 (markdown)"),
])
def test_leaks_are_caught(cells, where):
    found = leaks(SOURCE, _nb(*cells))
    assert found and where in found[0], found


@pytest.mark.parametrize("cells", [
    ["def predict(free):\n    return max(0, (free - fixed) / per_sample)"],      # different code
    ["from gpuviz import matmul_kernels as mk", "show(mk.naive_traps)"],              # a kernel with two traps
    [S.strip_source(SOURCE.cells[0].source)],                                          # the stub itself
    ["MD Wait with `cuda.syncthreads()`.", "cuda.syncthreads()"],       # an API call, named, is no answer
])
def test_no_false_alarms(cells):
    assert leaks(SOURCE, _nb(*cells)) == []


def test_a_skeletons_steps_are_compared_one_by_one():
    """A function with one solution region per step: each step's code counts, except a bare API call."""
    skeleton = _nb("@cuda.jit\ndef k(x, out):\n    # 1. load\n    ### BEGIN SOLUTION\n    s[tx] = x[i]\n"
                   "    t = s[n - 1 - tx] * 2\n    ### END SOLUTION\n    # 2. wait\n    ### BEGIN SOLUTION\n"
                   "    cuda.syncthreads()\n    ### END SOLUTION\n    out[i] = t")
    assert leaks(skeleton, _nb("s[j] = y[m]\nv = s[n - 1 - j] * 2    # step 1, renamed, elsewhere"))
    assert not leaks(skeleton, _nb("cuda.syncthreads()", "MD call `cuda.syncthreads()`"))
    assert not leaks(skeleton, _nb(S.strip_source(skeleton.cells[0].source)))


def test_pointers_to_a_solution_are_caught():
    assert says_where_the_solution_is(_nb("MD the package's `matmul_coalesced` is the solution above"))
    assert says_where_the_solution_is(_nb("x = 1    # the solution of exercise 2"))
    assert not says_where_the_solution_is(_nb("MD a GPU gives no guarantee about the order"))


FORMULAS = _nb("def naive_intensity(n):\n    ### BEGIN SOLUTION\n    flops = 2 * n**3\n"
               "    nbytes = 4 * (2 * n**3 + n**2)\n    return flops / nbytes\n    ### END SOLUTION",
               "saxpy_intensity = None\n### BEGIN SOLUTION\nsaxpy_intensity = 2 / (3 * 4)\n### END SOLUTION",
               "def tiny(x, y):\n    ### BEGIN SOLUTION\n    return x / y\n    ### END SOLUTION",
               "def ring(nbytes, p):\n    ### BEGIN SOLUTION\n    return 2 * (p - 1) * nbytes / p\n    ### END SOLUTION")


@pytest.mark.parametrize("cells,where", [
    (["assert abs(traced - 2 * N**3 / (4 * (2 * N**3 + N**2))) < 1e-12"], "cell 0"),       # renamed, inlined
    (["marks = {'naive': 2 * 4096**3 / (4 * (2 * 4096**3 + 4096**2))}"], "cell 0"),       # a number for n
    (["x = 1", "assert abs(measured - 1 / 6) < 1e-9"], "cell 1"),                          # the value
    (["MD The intensity is `2*n**3/(4*(2*n**3+n**2))`."], "cell 0 (markdown)"),
    (["%%time\nprint(2 / (3 * 4))"], "cell 0"),
    (["ring = 2 * (W - 1) / W * g"], "cell 0"),                  # factors in another order (12's ring bytes)
])
def test_formula_leaks_are_caught(cells, where):
    found = formula_leaks(FORMULAS, _nb(*cells))
    assert found and where in found[0], found


@pytest.mark.parametrize("cells", [
    [S.strip_source(c.source) for c in FORMULAS.cells],                 # the stubs themselves
    ["flops = 2 * N**3\nprint(flops / t)", "MD `n / 6` FLOP/byte, compulsory"],  # a part, another formula
    ["r = a / b", "q = 1 / 4", "k = 12 / 6"],                            # too short; other values
    ["x = 2 * n**3 / (4 * (2 * n**3 + m**2))"],                         # one name where the answer has another
])
def test_no_formula_false_alarms(cells):
    assert formula_leaks(FORMULAS, _nb(*cells)) == []
