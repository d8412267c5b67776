"""Verdicts out of the learner's reach: how `gpuviz grade` decides pass or fail.

Learner code runs in the grading kernel, so no check inside it is tamper-proof. Three layers make
the trivial and the obvious attacks fail, and flag the rest:

1. **A channel opened before any learner cell.** The grader's hidden first cell calls `arm(records,
   key)`: it reads a one-time key (and deletes the file that held it), takes its own references to
   every exercise's check, and defines `__gpuviz_check_cell__`, through which the grader's copy of
   each check cell runs with `gv` bound to the grader's checks. Each run appends one record to the
   grader's file, signed with the key (HMAC): the exercise, the verdict, and the learner's answer,
   serialized when it is data or source code. A check cell without an authentic record fails. No
   environment variable or module attribute the learner can set changes a verdict.
2. **A re-check outside the kernel** (as otter-grader does): `python -m gpuviz.course.verdict` rebuilds every
   serialized answer that passed, in a fresh process where no learner cell ran, and checks it again.
3. **A static scan** (`scan`) of the learner's cells flags tampering for the instructor: assignments to
   gv.*, gpuviz.*, os.environ, sys.modules, builtins or numpy attributes, setattr, reload, peeks
   into closures, frames or the grader's channel.
"""
from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import io
import json
import os
import subprocess
import sys
import types

CELL = "__gpuviz_check_cell__"      # the name the grader's check cells call
RECHECK_TIMEOUT = 300


# ---------------------------------------------------------------------------------------------
# In the grading kernel: the grader's hidden first cell
# ---------------------------------------------------------------------------------------------

def hidden_cell(records: str, key: str) -> str:
    """The source of the cell the grader runs before any learner cell."""
    return f"import gpuviz.course.verdict\ngpuviz.course.verdict.arm({records!r}, {key!r})"


def arm(records_path: str, key_path: str) -> None:
    """Open the verdict channel and define `__gpuviz_check_cell__` in the notebook's namespace.

    Everything a verdict depends on is bound here, before learner code runs: the key, the file
    descriptor, the exercises' check functions, and the functions that sign and write records."""
    import importlib

    import IPython

    import gpuviz
    from gpuviz.exercises import registry

    C = importlib.import_module("gpuviz.exercises.check")
    with open(key_path, "rb") as f:
        key = f.read()
    os.unlink(key_path)
    fd = os.open(records_path, os.O_WRONLY | os.O_APPEND)
    checks, judge, result_cls, failed = dict(registry()), C.judge, C.Result, C.CheckFailed
    sign, sha256, dumps, write, encode = hmac.new, hashlib.sha256, json.dumps, os.write, _encode
    ip = IPython.get_ipython()
    user_ns = ip.user_ns
    _scrub_history(ip)
    state = {"seq": 0, "calls": None}

    def graded_check(exercise_id, obj, *, strict=None, **kw):
        entry = checks.get(exercise_id)
        if entry is None:
            ok, message, points = False, f"no exercise {exercise_id!r}", 0
        else:
            points, fn = entry
            ok, message = judge(fn, obj, **kw)
        result = result_cls(exercise_id, ok, message, points if ok else 0, points, _shown=True)
        if state["calls"] is not None:
            state["calls"].append({"exercise": exercise_id, "passed": ok, "message": message,
                                   "answer": encode(obj) if ok else None, "kw": encode(kw) if ok else None})
        print(result.line, file=sys.stdout if ok else sys.stderr, flush=True)
        if not ok:
            raise failed(result.line)
        return result

    class GradedGpuviz(types.ModuleType):      # `gv` as the grader's check cells see it
        def __getattr__(self, name):
            return getattr(gpuviz, name)

    gv = GradedGpuviz("gpuviz")
    gv.check = graded_check

    def check_cell(exercise, source):
        calls, error = [], None
        state["calls"] = calls
        had, saved = "gv" in user_ns, user_ns.get("gv")
        user_ns["gv"] = gv
        try:
            exec(compile(source, f"<check {exercise}>", "exec"), user_ns)  # noqa: S102 the course's check cell
        except BaseException as e:
            error = e
        finally:
            state["calls"] = None
            if had:
                user_ns["gv"] = saved
            else:
                user_ns.pop("gv", None)
            state["seq"] += 1
            body = dumps({"seq": state["seq"], "exercise": exercise, "calls": calls,
                          "error": None if error is None else f"{type(error).__name__}: {error}"},
                         sort_keys=True)
            mac = sign(key, body.encode(), sha256).hexdigest()
            write(fd, (dumps({"body": body, "mac": mac}) + "\n").encode())
        if error is not None:
            raise error

    user_ns[CELL] = check_cell


def _scrub_history(ip) -> None:
    """Forget the hidden cell's source (it names the channel's file) in the kernel's input history."""
    for name in ("In", "_ih"):
        hist = ip.user_ns.get(name)
        if isinstance(hist, list) and hist:
            hist[-1] = ""
    for name in [n for n in ip.user_ns if n in ("_i", "_ii", "_iii") or (n.startswith("_i") and n[2:].isdigit())]:
        ip.user_ns[name] = ""
    for attr in ("input_hist_parsed", "input_hist_raw"):
        hist = getattr(ip.history_manager, attr, None)
        if isinstance(hist, list) and hist:
            hist[-1] = ""


def check_cell_source(exercise: str, source: str) -> str:
    """What the grader runs in place of a check cell: the original source, through the channel."""
    return f"{CELL}({exercise!r}, {source!r})"


# ---------------------------------------------------------------------------------------------
# Answers as data: what can leave the kernel
# ---------------------------------------------------------------------------------------------

_PLAIN = (type(None), bool, int, float, complex, str)


def _encode(obj, depth: int = 0) -> dict:
    """The answer as JSON the re-check can rebuild without running learner code at load time:
    plain values, NumPy arrays and scalars, containers of them, and functions or kernels as source."""
    try:
        return _encode_value(obj, depth)
    except Exception as e:  # noqa: BLE001 an answer we cannot serialize is not re-checked, never failed
        return {"t": "none", "why": f"it could not be serialized ({type(e).__name__}: {e})"}


def _encode_value(obj, depth: int) -> dict:
    import numpy as np

    t = type(obj)
    if depth > 20:
        return {"t": "none", "why": "nested too deeply"}
    if t in _PLAIN and t is not complex:
        return {"t": "json", "v": obj}
    if t in (np.ndarray,) or isinstance(obj, np.generic) and t.__module__ == "numpy":
        if np.asarray(obj).dtype.hasobject:
            return {"t": "none", "why": "an array of Python objects"}
        buf = io.BytesIO()
        np.save(buf, np.asarray(obj), allow_pickle=False)
        return {"t": "array" if t is np.ndarray else "scalar", "npy": base64.b64encode(buf.getvalue()).decode()}
    if t in (list, tuple, set, frozenset):
        return {"t": t.__name__, "v": [_encode(v, depth + 1) for v in obj]}
    if t is dict and all(type(k) is str for k in obj):
        return {"t": "dict", "v": {k: _encode(v, depth + 1) for k, v in obj.items()}}
    if t is dict and all(type(k) in (int, bool, type(None)) for k in obj):     # a questionnaire's {1: "b", ...}
        return {"t": "items", "v": [[_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in obj.items()]}
    return _encode_function(obj)


def _encode_function(obj) -> dict:
    from gpuviz import kernelrecord
    from gpuviz.tracer.kernelsource import python_function

    if type(obj).__module__.startswith("triton"):     # lesson 13: the re-check rebuilds Numba kernels only
        return {"t": "none", "why": "a Triton kernel is checked in the notebook's kernel only"}
    try:
        fn = python_function(obj)
    except TypeError:
        return {"t": "none", "why": f"a {type(obj).__name__} is not data or source code"}
    if not isinstance(fn, types.FunctionType):
        return {"t": "none", "why": f"a {type(obj).__name__} is not data or source code"}
    kind = "function" if fn is obj else "kernel"
    if kind == "kernel" and getattr(obj, "_device", False) is True:
        kind = "device"
    try:
        rec = kernelrecord._capture_function(fn, obj, stack=())
    except Exception as e:  # noqa: BLE001
        return {"t": "none", "why": f"its source could not be captured ({type(e).__name__}: {e})"}
    if rec["errors"]:
        return {"t": "none", "why": rec["errors"][0]}
    return {"t": kind, "rec": rec}


def decode(enc: dict):
    """Rebuild an answer from `_encode`'s JSON (in the re-check process)."""
    import numpy as np

    t = enc["t"]
    if t == "json":
        return enc["v"]
    if t in ("array", "scalar"):
        a = np.load(io.BytesIO(base64.b64decode(enc["npy"])), allow_pickle=False)
        return a if t == "array" else a[()]
    if t in ("list", "tuple", "set", "frozenset"):
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[t](decode(v) for v in enc["v"])
    if t == "dict":
        return {k: decode(v) for k, v in enc["v"].items()}
    if t == "items":
        return {decode(k): decode(v) for k, v in enc["v"]}
    if t in ("function", "kernel", "device"):
        from numba import cuda

        from gpuviz import kernelrecord

        fn = kernelrecord._rebuild({**enc["rec"], "kind": "python"}, jit=False)[0]
        if t == "function":
            return fn
        return cuda.jit(device=True)(fn) if t == "device" else cuda.jit(fn)
    raise ValueError(f"not re-checkable: {enc.get('why', t)}")


# ---------------------------------------------------------------------------------------------
# In the grader: reading the channel, and the re-check in a fresh process
# ---------------------------------------------------------------------------------------------

def read_records(path, key: bytes) -> tuple[dict, int]:
    """({exercise: its last authentic record}, how many lines were forged or damaged)."""
    last, bad = {}, 0
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        return {}, 0
    for line in lines:
        try:
            env = json.loads(line)
            want = hmac.new(key, env["body"].encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, env["mac"]):
                raise ValueError("bad signature")
            body = json.loads(env["body"])
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
        last[body["exercise"]] = body
    return last, bad


def recheck(jobs: list[dict], timeout: float = RECHECK_TIMEOUT) -> list[dict]:
    """Check answers again in a fresh process (the simulator, nothing of the notebook's state).

    jobs: [{"exercise", "answer", "kw"}] as recorded. Returns one {"passed", "message"} per job, or
    {"passed": None, "message": why} where the answer could not be re-checked."""
    if not jobs:
        return []
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    env.pop("GPUVIZ_KERNEL_LOG", None)
    try:
        p = subprocess.run([sys.executable, "-m", "gpuviz.course.verdict"], input=json.dumps(jobs), env=env,
                           capture_output=True, text=True, timeout=timeout, check=False)
        out = json.loads(p.stdout.strip().splitlines()[-1])
        if len(out) == len(jobs):
            return out
        why = "the re-check answered for the wrong number of exercises"
    except subprocess.TimeoutExpired:
        why = f"the re-check ran past {timeout:g} s"
    except (IndexError, ValueError):
        why = f"the re-check process failed: {(p.stderr or '').strip()[-200:]}"
    return [{"passed": None, "message": why} for _ in jobs]


def _recheck_here(jobs: list[dict]) -> list[dict]:
    import contextlib

    from gpuviz import runtime
    from gpuviz.exercises.check import judge
    from gpuviz.exercises import registry

    with contextlib.redirect_stdout(io.StringIO()):
        runtime.setup(quiet=True)
    out = []
    for job in jobs:
        try:
            answer, kw = decode(job["answer"]), decode(job["kw"])
        except Exception as e:  # noqa: BLE001 cannot rebuild: the in-kernel verdict stands, flagged
            out.append({"passed": None, "message": f"{type(e).__name__}: {e}" if not isinstance(e, ValueError)
                        else str(e)})
            continue
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            ok, message = judge(registry()[job["exercise"]][1], answer, **kw)
        out.append({"passed": ok, "message": message})
    return out


# ---------------------------------------------------------------------------------------------
# The static scan
# ---------------------------------------------------------------------------------------------

_WATCHED_MODULES = {"gpuviz": "gpuviz", "numpy": "numpy", "os": "os", "sys": "sys", "builtins": "builtins",
                    "importlib": "importlib", "gc": "gc", "inspect": "inspect", "ctypes": "ctypes"}
_CALLS = {"setattr": "calls setattr", "delattr": "calls delattr", "exec": "runs code from a string (exec)",
          "eval": "runs code from a string (eval)", "get_ipython": "reaches into the kernel (get_ipython)",
          "globals": "reaches into the namespace (globals())", "vars": "reaches into a namespace (vars())",
          "__import__": "imports by name (__import__)"}
_ATTRS = {"__closure__": "reads a closure", "__globals__": "reads a function's globals",
          "__code__": "reads or replaces code objects", "f_back": "reads the caller's frame",
          "f_locals": "reads a frame's variables", "f_globals": "reads a frame's globals",
          "__builtins__": "touches builtins", "__dict__": "reaches into an object's attributes"}
_QUALIFIED = {"importlib.reload": "reloads a module", "sys.settrace": "sets a tracer",
              "sys.setprofile": "sets a profiler", "sys._getframe": "reads stack frames",
              "gc.get_objects": "walks every object", "gc.get_referrers": "walks references",
              "gc.get_referents": "walks references", "inspect.getclosurevars": "reads a closure",
              "inspect.currentframe": "reads stack frames", "inspect.stack": "reads stack frames",
              "os.putenv": "sets an environment variable", "os.environ.update": "changes the environment",
              "os.environ.setdefault": "changes the environment", "os.environ.pop": "changes the environment",
              "os.unsetenv": "changes the environment"}
_DISGUISES = {"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__float__", "__int__",
              "__index__", "__complex__", "__array__", "__array_ufunc__", "__array_function__", "__len__",
              "__hash__", "__instancecheck__", "__class__", "__getattr__", "__getattribute__"}
_MAGICS = ("env", "load_ext", "run", "load", "reset", "autoreload", "aimport")
_NAMES = {CELL: "touches the grader's check channel", "_ih": "reads the input history",
          "In": "reads the input history", "__builtins__": "touches builtins"}


def scan(sources: list[str], given: set[str] = frozenset()) -> list[str]:
    """Tampering found in the learner's cells: one line each, 'cell N, line L: `code` (what it does)'.
    Lines in `given` (the handed-out notebook's own lines, stripped) are the course's, not flagged."""
    found = []
    for n, src in enumerate(sources, 1):
        by_line: dict = {}
        for line, what, code in _scan_cell(src):
            if code.strip() in given:
                continue
            by_line.setdefault((line, code), []).append(what)
        found += [f"cell {n}, line {line}: `{code[:80]}{'...' * (len(code) > 80)}` ({'; '.join(whats)})"
                  for (line, code), whats in by_line.items()]
    return found


def _python(src: str) -> str:
    """Cell source as plain Python (IPython magics and shell escapes translated)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(src)
    except Exception:  # noqa: BLE001 without IPython: magics stay, and ast will say so
        return src


def _scan_cell(src: str) -> list[tuple[int, str, str]]:
    code = _python(src)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    lines = code.splitlines()
    aliases = {}                                # local name -> the watched module or object it names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                root = a.name.split(".")[0]
                if root in _WATCHED_MODULES:
                    aliases[(a.asname or root)] = a.name if a.asname else root
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            if root in _WATCHED_MODULES:
                for a in node.names:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    aliases.setdefault("gv", "gpuviz")
    aliases.setdefault("np", "numpy")

    def dotted(node) -> str | None:
        parts = []
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            if isinstance(node, ast.Attribute):
                parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            parts.append(aliases.get(node.id, node.id))
            return ".".join(reversed(parts))
        return None

    def watched(name: str | None) -> bool:
        return bool(name) and name.split(".")[0] in ("gpuviz", "numpy", "builtins") or \
            bool(name) and name.startswith(("os.environ", "sys.modules", "sys.path_hooks", "sys.meta_path"))

    out = []

    def flag(node, what):
        text = lines[node.lineno - 1].strip() if 0 < node.lineno <= len(lines) else ""
        out.append((node.lineno, what, text))

    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for t in targets:
            for el in (t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]):
                if isinstance(el, (ast.Attribute, ast.Subscript)) and watched(dotted(el)):
                    flag(node, f"changes {dotted(el).split('[')[0]}")
                elif isinstance(el, ast.Name) and el.id in ("gv", CELL, "__builtins__"):
                    flag(node, f"rebinds {el.id}")
        if isinstance(node, ast.Import) or isinstance(node, ast.ImportFrom):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [f"{node.module}.{a.name}" for a in node.names] if node.module == "gpuviz" else [node.module or ""]
            if any(m.startswith(("gpuviz.exercises", "gpuviz.course")) for m in mods):
                flag(node, "imports the grader's checks")
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if isinstance(node.func, ast.Name) and node.func.id in _CALLS:
                if node.func.id != "get_ipython" or "get_ipython" in src:   # not a translated %magic
                    flag(node, _CALLS[node.func.id])
            elif name in _QUALIFIED:
                flag(node, _QUALIFIED[name])
            elif isinstance(node.func, ast.Attribute) and node.func.attr == "run_line_magic" and node.args and \
                    isinstance(node.args[0], ast.Constant) and node.args[0].value in _MAGICS:
                flag(node, f"runs the %{node.args[0].value} magic")
        if isinstance(node, ast.Attribute) and node.attr in _ATTRS:
            flag(node, _ATTRS[node.attr])
        if isinstance(node, ast.Name) and node.id in _NAMES:
            flag(node, _NAMES[node.id])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in _DISGUISES:
            flag(node, f"defines {node.name}, so an answer can pose as another value")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                ("GPUVIZ_" in node.value or "gpuviz-verdicts" in node.value):
            flag(node, "names a gpuviz setting or the grader's files")
    return sorted(set(out))


if __name__ == "__main__":
    print(json.dumps(_recheck_here(json.loads(sys.stdin.read()))))
