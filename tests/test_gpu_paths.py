"""Defects that only a GPU run would show, caught by reading the notebooks' code without a GPU.

- `gv.trace` runs kernels thread by thread on the CPU and refuses big launches, so it must never get
  data sized by `gv.pick` (which is large on a GPU): a static data-flow check over each notebook.
- On a GPU, numba-cuda does not report exceptions raised inside kernels (no `debug=True`), and an
  out-of-bounds access poisons the CUDA context. So a learner's kernel (a @cuda.jit function defined in
  a solution cell) may be launched outside its check only under `if gv.passed("ID"):`.
- `torch.cuda.is_bf16_supported()` counts emulation: it says True on a T4, which has no bf16 units.
"""
import ast
import glob
import json

import pytest

NOTEBOOKS = sorted(glob.glob("course/solutions/*.ipynb"))


def code_cells(path):
    cells = json.load(open(path))["cells"]
    return [(i, "".join(c["source"]), c.get("metadata", {}).get("nbgrader", {}).get("grade_id", ""))
            for i, c in enumerate(cells) if c["cell_type"] == "code"]


def _is_gv_call(node, name):
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "gv")


def _names(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _bounded(node, tainted) -> bool:
    """`x[:1024]`, `x[:TRACE_N]`: a size that does not depend on gv.pick, whatever x's size."""
    return (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice)
            and node.slice.upper is not None and not _depends(node.slice.upper, tainted))


def _depends(node, tainted) -> bool:
    """Does the value of `node` depend on gv.pick, directly or through a tainted name?"""
    if node is None or _bounded(node, tainted):
        return False
    if _is_gv_call(node, "pick") or (isinstance(node, ast.Name) and node.id in tainted):
        return True
    return any(_depends(child, tainted) for child in ast.iter_child_nodes(node))


def _traces(node, tainted, found):
    for n in ast.walk(node):
        if _is_gv_call(n, "trace") and any(_depends(a, tainted) for a in n.args[1:]):
            found.append((n.lineno, sorted(set().union(*(_names(a) for a in n.args[1:])) & tainted)))


def _scan(stmts, tainted: set, found: list) -> None:
    """Statements in execution order: a name is pick-sized from an assignment that depends on gv.pick
    until it is assigned something that does not. Function bodies get their own copy of the names."""
    for st in stmts:
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _scan(st.body, set(tainted) - {a.arg for a in st.args.args}, found)
            continue
        if isinstance(st, ast.ClassDef):
            continue
        bodies = [getattr(st, f) for f in ("body", "orelse", "finalbody") if isinstance(getattr(st, f, None), list)]
        bodies += [h.body for h in getattr(st, "handlers", [])]
        header = [getattr(st, f) for f in ("test", "iter", "value", "items") if getattr(st, f, None) is not None]
        for h in header:
            for part in (h if isinstance(h, list) else [h]):
                _traces(part, tainted, found)
        if isinstance(st, (ast.Assign, ast.AnnAssign, ast.For, ast.AugAssign)):
            targets = set().union(*(_names(t) for t in (st.targets if isinstance(st, ast.Assign) else [st.target])))
            value = st.iter if isinstance(st, ast.For) else st.value
            if _depends(value, tainted) or (isinstance(st, ast.AugAssign) and targets & tainted):
                tainted |= targets
            else:
                tainted -= targets
        if not bodies and not header:
            _traces(st, tainted, found)
        for body in bodies:
            _scan(body, tainted, found)


def traces_of_picked_data(source: str) -> list:
    """(line, names) of every gv.trace call whose launch shape or data depends on gv.pick."""
    found = []
    _scan(ast.parse(source).body, set(), found)
    return found


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_trace_never_gets_gpu_sized_data(path):
    source = "\n".join(src for _, src, _ in code_cells(path))
    bad = traces_of_picked_data(source)
    assert not bad, (f"{path}: gv.trace called on data sized by gv.pick (line, names): {bad}. The tracer runs "
                     "on the CPU in both modes: trace a small fixed problem, and keep gv.pick for the sizes you time.")


def test_the_trace_check_catches_what_it_should():
    assert traces_of_picked_data("N = gv.pick(gpu=2**24, sim=64)\nx = np.ones(N)\ngv.trace(k, 1, 32, x)\n") \
        == [(3, ["x"])]
    assert traces_of_picked_data("N = gv.pick(gpu=2**24, sim=64)\nfor n in [N]:\n    g = (n + 31) // 32\n"
                                 "gv.trace(k, g, 32, y)\n") == [(4, ["g"])]
    assert traces_of_picked_data("N = gv.pick(gpu=2**24, sim=64)\nT = 32\nx = np.ones(T)\ngv.trace(k, 1, 32, x)\n") \
        == []
    assert traces_of_picked_data("N = gv.pick(gpu=2**24, sim=64)\nT = 32\nx = np.ones(N)\ngv.trace(k, 1, 32, x[:T])\n") \
        == []
    assert traces_of_picked_data("N = gv.pick(gpu=2**24, sim=64)\nx = np.ones(64)\ngv.trace(k, 1, 32, x[:N])\n") \
        == [(3, ["N"])]


def learner_kernels(cells) -> dict:
    """name -> exercise ID, for every @cuda.jit function defined in a solution cell."""
    out = {}
    for _, src, gid in cells:
        if not gid.endswith("-solution"):
            continue
        for node in ast.parse(src).body:
            if isinstance(node, ast.FunctionDef) and any("jit" in ast.unparse(d) for d in node.decorator_list):
                out[node.name] = gid.removesuffix("-solution")
    return out


def _needs(node, uses: dict, guarded=frozenset()) -> list:
    """(line, name, ID) for each launch of a learner's kernel, or call of a function that launches one,
    not under `if gv.passed(ID):`. `uses` maps kernel and function names to the IDs they need."""
    out = []
    if isinstance(node, ast.If):
        ids = {a.value for n in ast.walk(node.test) if _is_gv_call(n, "passed")
               for a in n.args if isinstance(a, ast.Constant)}
        out += _needs(node.test, uses, guarded)
        for child in node.body:
            out += _needs(child, uses, guarded | ids)
        for child in node.orelse:
            out += _needs(child, uses, guarded)
        return out
    if isinstance(node, ast.Call):
        f = node.func.value if isinstance(node.func, ast.Subscript) else node.func   # k[grid, block](...) or f(...)
        if isinstance(f, ast.Name) and f.id in uses and (isinstance(node.func, ast.Subscript) or f.id in uses):
            out += [(node.lineno, f.id, i) for i in uses[f.id] - guarded]
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out += _needs(child, uses, guarded)
    return out


def unguarded_launches(source: str, kernels: dict) -> list:
    """Launches of a learner's kernel (`k[grid, block](...)`), direct or through functions that launch
    one, outside `if gv.passed("<its ID>"):`. A function's own launches are checked where it is called."""
    tree = ast.parse(source)
    uses = {k: {i} for k, i in kernels.items()}
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    while True:                                   # functions that launch, directly or through each other
        before = {k: set(v) for k, v in uses.items()}
        for f in funcs:
            ids = {i for st in f.body for _, _, i in _needs(st, uses)}
            if ids:
                uses[f.name] = uses.get(f.name, set()) | ids
        if uses == before:
            break
    return sorted({(line, name) for st in tree.body if not isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for line, name, _ in _needs(st, uses)})


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_learner_kernels_launch_only_after_their_check_passed(path):
    cells = code_cells(path)
    kernels = learner_kernels(cells)
    source = "\n".join(src if not gid.endswith("-solution") else "" for _, src, gid in cells)
    bad = unguarded_launches(source, kernels)
    assert not bad, (f"{path}: a learner's kernel is launched outside `if gv.passed(ID):` (line, kernel): "
                     f"{bad}. On a GPU an unchecked kernel can fail silently or poison the CUDA context.")


def test_the_launch_check_catches_what_it_should():
    kernels = {"saxpy": "01-saxpy"}
    assert unguarded_launches("saxpy[1, 32](a, x, y, out)\n", kernels) == [(1, "saxpy")]
    assert unguarded_launches('if gv.passed("01-saxpy"):\n    saxpy[1, 32](a, x, y, out)\n', kernels) == []
    assert unguarded_launches('if gv.passed("01-other"):\n    saxpy[1, 32](a, x, y, out)\n', kernels) \
        == [(2, "saxpy")]
    assert unguarded_launches("gv.trace(saxpy, 1, 32, a, x, y, out)\n", kernels) == []    # the tracer is safe
    through = "def step():\n    saxpy[1, 32](a, x, y, out)\ndef train():\n    step()\n"
    assert unguarded_launches(through + "train()\n", kernels) == [(5, "train")]
    assert unguarded_launches(through + 'if gv.passed("01-saxpy"):\n    train()\n', kernels) == []


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_bf16_support_is_not_emulation(path):
    for i, src, _ in code_cells(path):
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("is_bf16_supported"):
                kw = {k.arg: ast.unparse(k.value) for k in node.keywords}
                assert kw.get("including_emulation") == "False", (
                    f"{path} cell {i}: is_bf16_supported() counts emulation and says True on a T4; "
                    "pass including_emulation=False")
