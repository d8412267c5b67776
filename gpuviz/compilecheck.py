"""Check that every kernel the notebooks launch compiles for real GPUs.

The CUDA simulator does no type checking, so a kernel that runs there (say one that calls
`np.zeros` inside) can still fail to compile for a GPU. The check has two halves:

1. `record(kernel, args)`: called on every launch while GPUVIZ_KERNEL_LOG names a file (gpuviz's
   launch hook does this). It appends one JSON line per distinct (kernel, argument types): the
   kernel's source, its argument types, and what its free names refer to (modules, constants,
   device functions, captured recursively). It never raises: what it cannot capture it writes down.
2. `check_log(path)` / `python -m gpuviz.compilecheck LOG`: in a process without the simulator,
   rebuilds each kernel from its record and compiles it to PTX with `cuda.compile_ptx` for sm_75
   (Colab's T4) and sm_90 (H100). No GPU is needed, only numba-cuda[cu13] (or [cu12]).

Two more checks close what the log cannot see:

3. `check_notebooks(log, notebooks)` / `--notebooks`: a kernel defined in a notebook but launched
   only in a GPU branch (`if gv.on_gpu():`) never runs under the simulator, so it is never recorded.
   Every `@cuda.jit` kernel written in a notebook's code cells must have a record with the same name
   and source; one without FAILS the check, so it cannot be skipped silently.
4. `check_ladder()` / `--ladder`: the kernels of `gpuviz bench` (gpuviz.matmul_kernels.LADDER), with
   the argument types and launch shapes it uses, assembled by ptxas (inside nvJitLink) to report
   registers, spills, shared memory and blocks per SM (`gpuviz.launch.occupancy`). A ladder kernel
   that spills, or fits fewer blocks per SM than its rung promises, fails.

Triton kernels (notebook 13) go into the same log and are compiled by Triton's own compiler
(gpuviz.tritonkit).
"""
from __future__ import annotations

import argparse
import ast
import base64
import contextlib
import dataclasses
import dis
import hashlib
import inspect
import json
import linecache
import math
import os
import pickle
import subprocess
import sys
import textwrap
import types
import weakref

from gpuviz.kernelsource import python_function

ENV = "GPUVIZ_KERNEL_LOG"
DEFAULT_CCS = ((7, 5), (9, 0))
MAX_ARRAY_BYTES = 1 << 20  # global NumPy arrays up to this size are captured (Numba makes them constants)
_seen = weakref.WeakKeyDictionary()  # function -> argument types already written by this process


# ---------------------------------------------------------------------------------------------
# Recording (runs in the learner's process, usually under the simulator)
# ---------------------------------------------------------------------------------------------

def record(kernel, args, path: str | None = None) -> None:
    """Append `kernel`'s record for these launch arguments to the log (GPUVIZ_KERNEL_LOG or `path`).

    `kernel` is a simulator FakeCUDAKernel, a CUDADispatcher, a configured launch or a plain function.
    Never raises: a learner's run must not break because the check could not look at a kernel.
    """
    path = path or os.environ.get(ENV)
    if not path:
        return
    try:
        fn = python_function(kernel)
        argtypes = [_argtype(a) for a in args]
        key = json.dumps(argtypes, sort_keys=True)
        if key in _seen.setdefault(fn, set()):
            return
        _seen[fn].add(key)
        rec = _capture_function(fn, kernel, stack=())
        rec["argtypes"] = argtypes
    except Exception as e:  # noqa: BLE001  capture failed: say so in the log, the checker reports it
        rec = {"name": getattr(kernel, "__name__", repr(kernel)), "origin": "?", "argtypes": [],
               "errors": [f"recording failed: {type(e).__name__}: {e}"]}
    rec["errors"] = rec.get("errors", []) + [e for a in rec["argtypes"] if (e := a.get("error"))]
    try:
        _append(path, rec)
    except Exception as e:  # noqa: BLE001
        print(f"gpuviz.compilecheck: could not write {path}: {e}", file=sys.stderr)


def _argtype(a) -> dict:
    """A launch argument's Numba type, as JSON: arrays by dtype/ndim/layout, the rest by typeof."""
    import numpy as np

    try:
        ty = getattr(a, "_numba_type_", None)  # simulator and real device arrays
        if ty is None and isinstance(a, np.ndarray):
            import numba

            ty = numba.typeof(a)
        if ty is None and hasattr(a, "__cuda_array_interface__"):  # torch/cupy device arrays
            return _cai_type(a.__cuda_array_interface__)
        if ty is not None and hasattr(ty, "ndim") and hasattr(ty, "dtype"):
            return {"kind": "array", "dtype": str(np.dtype(str(ty.dtype))), "ndim": ty.ndim, "layout": ty.layout}
        import numba

        ty = ty or numba.typeof(a)
        return {"kind": "type", "repr": str(ty), "pickle": _b64(ty)}
    except Exception as e:  # noqa: BLE001
        return {"kind": "unknown", "repr": type(a).__name__,
                "error": f"argument of type {type(a).__name__}: {type(e).__name__}: {e}"}


def _cai_type(cai) -> dict:
    import numpy as np

    dtype = np.dtype(cai["typestr"])
    shape, strides = tuple(cai["shape"]), cai.get("strides")
    layout = "C"
    if strides is not None:
        c = np.empty(shape, dtype).strides if shape else ()
        f = np.empty(shape, dtype, order="F").strides if shape else ()
        layout = "C" if tuple(strides) == c else "F" if tuple(strides) == f else "A"
    return {"kind": "array", "dtype": str(dtype), "ndim": len(shape), "layout": layout}


def _origin(fn) -> str:
    """Where a function was defined, for error messages: notebook (when known) or file, and line."""
    code = fn.__code__
    where = code.co_filename
    if "ipykernel" in where or where.startswith("<ipython"):
        nb = os.environ.get("JPY_SESSION_NAME") or fn.__globals__.get("__vsc_ipynb_file__")
        where = f"{nb} (cell {os.path.basename(where)})" if nb else f"notebook cell {where}"
    return f"{where}:{code.co_firstlineno}"


def _global_names(code) -> set[str]:
    """Names a code object (and code nested in it) loads as globals; attributes like `cuda.grid` excluded."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _global_names(c)
    return names


def _capture_function(fn, obj, stack) -> dict:
    """Source, origin, options and free names of a kernel or device function."""
    rec = {"name": fn.__name__, "origin": _origin(fn), "errors": []}
    try:
        rec["source"] = textwrap.dedent(inspect.getsource(fn))
        rec["firstline"] = fn.__code__.co_firstlineno
    except (OSError, TypeError) as e:
        rec["errors"].append(f"no source for {fn.__name__}: {e}")
    rec["options"] = _options(obj)
    ns = {}
    nonlocals = inspect.getclosurevars(fn).nonlocals
    names = _global_names(fn.__code__) | set(nonlocals)
    for name in sorted(names):
        if name in nonlocals:
            value = nonlocals[name]
        elif name in fn.__globals__:
            value = fn.__globals__[name]
        else:
            continue  # a builtin (range, min ...) or undefined: Numba will say which
        entry = _capture_value(value, name, stack + (fn,))
        ns[name] = entry
        if "error" in entry:
            rec["errors"].append(f"{fn.__name__}: global {name!r}: {entry['error']}")
        for sub in (entry.get("function") or {}).get("errors", []):
            rec["errors"].append(sub)
    rec["namespace"] = ns
    return rec


def _options(obj) -> dict:
    """Compile options set on the kernel object (decorator literals are read again from the source)."""
    opts = getattr(obj, "targetoptions", None)
    if isinstance(opts, dict):
        out = {k: opts[k] for k in ("fastmath", "debug", "lineinfo") if isinstance(opts.get(k), bool)}
        if isinstance(opts.get("launch_bounds"), (int, tuple)):
            out["launch_bounds"] = opts["launch_bounds"]
        return out
    return {k: v for k, v in (("fastmath", getattr(obj, "_fastmath", None)),
                              ("debug", getattr(obj, "_debug", None))) if isinstance(v, bool)}


def _is_device_function(value) -> bool:
    if getattr(value, "_device", False) is True:  # the simulator's FakeCUDAKernel
        return True
    return getattr(value, "targetoptions", {}).get("device") is True  # a CUDADispatcher


def _capture_value(value, name, stack) -> dict:
    """How the checker can get `value` back: import it, unpickle it, or rebuild it from source."""
    import numpy as np

    mod = type(value).__module__ or ""
    if isinstance(value, types.ModuleType) or mod.startswith("numba.cuda.simulator.kernelapi"):
        modname = getattr(value, "__name__", "")
        if modname.startswith(("numba.cuda", "gpuviz.fakecuda")) or mod.startswith("numba.cuda.simulator"):
            return {"kind": "module", "module": "numba.cuda"}
        if modname in ("__main__", "") or modname.startswith("__"):
            return {"kind": "missing", "error": f"module {modname!r} cannot be imported by name"}
        return {"kind": "module", "module": modname}
    if _is_device_function(value) or type(value).__name__ in ("CPUDispatcher", "FakeCUDAKernel", "CUDADispatcher") \
            or isinstance(value, types.FunctionType):
        try:
            fn = python_function(value)
        except TypeError as e:
            return {"kind": "missing", "error": str(e)}
        if fn in stack:
            return {"kind": "missing", "error": "recursive functions are not supported by the check"}
        if _is_device_function(value):
            kind = "device"
        elif type(value).__name__ == "CPUDispatcher":
            kind = "njit"
        elif isinstance(value, types.FunctionType):
            kind = "python"  # plain Python: runs in the simulator, Numba refuses it on a GPU
        else:
            return {"kind": "missing", "error": "a kernel cannot be called from a kernel"}
        return {"kind": kind, "function": _capture_function(fn, value, stack)}
    if _constant(value, np):
        return {"kind": "value", "repr": _short_repr(value), "pickle": _b64(value)}
    if isinstance(value, np.ndarray):
        if value.nbytes <= MAX_ARRAY_BYTES:
            return {"kind": "value", "repr": f"array{value.shape} {value.dtype}", "pickle": _b64(value)}
        return {"kind": "missing", "error": f"global array of {value.nbytes} bytes is larger than the check takes"}
    found = _importable(value)
    if found:
        return {"kind": "import", "module": found[0], "attr": found[1]}
    return {"kind": "missing", "error": f"cannot capture a {type(value).__module__}.{type(value).__qualname__}"}


def _constant(value, np) -> bool:
    """Numbers, bools, strings, None, NumPy scalars and dtypes, Numba types, and tuples of them."""
    import numba

    if isinstance(value, tuple):
        return all(_constant(v, np) for v in value)
    return value is None or isinstance(value, (bool, int, float, complex, str, bytes, np.generic, np.dtype,
                                                numba.core.types.Type))


def _importable(value):
    """(module, attribute path) that gives back `value` on import, or None."""
    mod, qual = getattr(value, "__module__", None), getattr(value, "__qualname__", None) or \
        getattr(value, "__name__", None)
    if not (isinstance(mod, str) and isinstance(qual, str)) or "<" in qual or mod == "__main__":
        return None
    if mod.startswith("numba.cuda.simulator"):
        mod = "numba.cuda"
    try:
        obj = sys.modules.get(mod) or __import__(mod, fromlist=["_"])
        for part in qual.split("."):
            obj = getattr(obj, part)
    except Exception:  # noqa: BLE001
        return None
    return (mod, qual) if obj is value or mod == "numba.cuda" else None


def _short_repr(value) -> str:
    r = repr(value)
    return r if len(r) <= 80 else r[:77] + "..."


def _b64(obj) -> str:
    return base64.b64encode(pickle.dumps(obj)).decode("ascii")


def _unb64(s: str):
    return pickle.loads(base64.b64decode(s))


def _append(path: str, rec: dict) -> None:
    """One write per record, in append mode: several processes can share one log."""
    rec = {"v": 1, **rec}
    line = (json.dumps(rec, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(ImportError, OSError):
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Checking (a separate process, without the simulator)
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Result:
    name: str
    origin: str
    signature: str  # the argument types as launched
    cc: tuple | None  # None: the record could not be checked at all
    ok: bool
    message: str = ""

    @property
    def target(self) -> str:
        return f"sm_{self.cc[0]}{self.cc[1]}" if self.cc else "-"

    def line(self) -> str:
        head = f"{'ok' if self.ok else 'FAILED':<6} {self.target:<5}  {self.name}({self.signature})  [{self.origin}]"
        if self.ok:
            return head
        return head + "\n" + textwrap.indent(self.message, "         ")


def read_log(path) -> list[dict]:
    """The log's records, duplicates (same kernel, namespace and types from several processes) dropped."""
    records, keys = [], set()
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                rec = {"name": "?", "origin": f"{path}:{n}", "argtypes": [], "errors": [f"bad log line: {e}"]}
            key = hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).hexdigest()
            if key not in keys:
                keys.add(key)
                records.append(rec)
    return records


def check_log(path, ccs=DEFAULT_CCS) -> list[Result]:
    """Compile every recorded kernel for each compute capability in `ccs`; one Result per kernel x cc."""
    _require_real_target()
    results = []
    for rec in read_log(path):
        sig = ", ".join(_describe(a) for a in rec.get("argtypes", []))
        base = {"name": rec.get("name", "?"), "origin": rec.get("origin", "?"), "signature": sig}
        if rec.get("errors"):
            results.append(Result(**base, cc=None, ok=False,
                                  message="could not be captured, so not checked:\n" + "\n".join(rec["errors"])))
            continue
        for cc in ccs:
            try:
                if rec.get("kind") == "triton":  # notebook 13: Triton's own compiler (gpuviz.tritonkit)
                    from gpuviz import tritonkit

                    tritonkit.compile_record(rec, tuple(cc))
                else:
                    compile_record(rec, tuple(cc))
                results.append(Result(**base, cc=tuple(cc), ok=True))
            except Exception as e:  # noqa: BLE001
                results.append(Result(**base, cc=tuple(cc), ok=False, message=_first_lines(e)))
    return results


def _require_real_target() -> None:
    from numba.cuda.core import config

    if config.ENABLE_CUDASIM:
        raise RuntimeError("the compile check needs Numba's real CUDA target: run it in a process without "
                           "NUMBA_ENABLE_CUDASIM (python -m gpuviz.compilecheck removes it for you)")


def _describe(a: dict) -> str:
    if a.get("kind") == "array":
        return f"array({a['dtype']}, {a['ndim']}d, {a['layout']})"
    return a.get("repr", "?")


def _first_lines(e: Exception, n: int = 8) -> str:
    """The head of Numba's message and, when that is cut, its innermost reason (the last line)."""
    lines = [ln for ln in f"{type(e).__name__}: {e}".splitlines()
             if ln.strip() and not ln.strip().startswith(("raised from", "During:"))]
    if len(lines) <= n + 1:
        return "\n".join(lines)
    return "\n".join(lines[:n] + ["...", lines[-1].strip()])


def compile_record(rec: dict, cc: tuple) -> str:
    """Rebuild one recorded kernel and compile it for `cc`; returns the PTX, raises Numba's error."""
    from numba import cuda
    from numba.core import sigutils

    with _compiling_for(cc):
        pyfunc, decorator = _rebuild(rec, jit=False)
        argtypes = tuple(_numba_type(a) for a in rec["argtypes"])
        opts = {**rec.get("options", {}), **decorator["options"]}
        opts = {k: v for k, v in opts.items() if k in ("fastmath", "debug", "lineinfo", "opt", "launch_bounds")}
        if isinstance(opts.get("launch_bounds"), list):  # a tuple, before JSON
            opts["launch_bounds"] = tuple(opts["launch_bounds"])
        if not decorator["sigs"]:
            return cuda.compile_ptx(pyfunc, argtypes, cc=cc, **opts)[0]
        # Declared signatures: the GPU compiles those, and a launch must match one of them.
        ptx = [cuda.compile_ptx(pyfunc, s, cc=cc, **opts)[0] for s in decorator["sigs"]]
        from numba.cuda.descriptor import cuda_target

        tctx = cuda_target.typing_context
        declared = [sigutils.normalize_signature(s)[0] for s in decorator["sigs"]]
        if not any(len(d) == len(argtypes) and all(tctx.can_convert(a, f) is not None
                                                    for a, f in zip(argtypes, d)) for d in declared):
            raise TypeError(f"launched with ({', '.join(map(str, argtypes))}), which matches none of the "
                            f"declared signatures: {'; '.join(map(str, decorator['sigs']))}")
        return ptx[0]


def kernel_ptx(kernel, *args, cc=(7, 5)) -> str:
    """The PTX of `kernel` (a @cuda.jit kernel, e.g. one written in a notebook) compiled for `cc` with the
    types of the launch arguments `args`. No GPU is needed. Under the simulator, which cannot compile,
    it runs in a child process without it. Raises RuntimeError where this installation cannot compile."""
    return kernels_ptx([(kernel, args)], cc)[0]


def kernels_ptx(launches, cc=(7, 5)) -> list[str]:
    """kernel_ptx for several (kernel, args) pairs at once: under the simulator, one child process."""
    recs = []
    for kernel, args in launches:
        rec = _capture_function(python_function(kernel), kernel, stack=())
        rec["argtypes"] = [_argtype(a) for a in args]
        errors = rec.get("errors", []) + [e for a in rec["argtypes"] if (e := a.get("error"))]
        if errors:
            raise RuntimeError(f"could not capture {rec.get('name')}: {errors[0]}")
        recs.append(rec)
    from numba.cuda.core import config

    if not config.ENABLE_CUDASIM:
        return records_ptx(recs, cc)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    code = ("import json, sys; from gpuviz import compilecheck as c; r = json.load(sys.stdin); "
            "json.dump(c.records_ptx(r['recs'], r['cc']), sys.stdout)")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps({"recs": recs, "cc": list(cc)}),
                         capture_output=True, text=True, env=env, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"could not compile to PTX here: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(out.stdout)


def records_ptx(recs: list[dict], cc) -> list[str]:
    """compile_record for each record, on the real target (kernels_ptx's child process)."""
    problem = _cannot_compile_here()
    if problem:
        raise RuntimeError(f"this installation cannot compile to PTX: {problem.splitlines()[-1]}")
    return [compile_record(rec, tuple(cc)) for rec in recs]


@contextlib.contextmanager
def _compiling_for(cc):
    """Numba asks the current device for its compute capability when it compiles a device function
    a kernel calls; without a GPU there is none, so answer with the target's."""
    from numba.cuda import dispatcher

    fake = types.SimpleNamespace(compute_capability=tuple(cc))
    saved = getattr(dispatcher, "get_current_device", None)
    if saved is not None:
        dispatcher.get_current_device = lambda: fake
    try:
        yield
    finally:
        if saved is not None:
            dispatcher.get_current_device = saved


def _numba_type(a: dict):
    import numba
    import numpy as np

    if a["kind"] == "array":
        return numba.types.Array(numba.from_dtype(np.dtype(a["dtype"])), a["ndim"], a["layout"])
    return _unb64(a["pickle"])


def _rebuild(rec: dict, jit: bool):
    """Exec a recorded function's source, decorators stripped, in its rebuilt namespace.

    Returns (function, decorator info); device and @njit functions come back jitted when `jit`."""
    from numba import cuda

    ns = {"__builtins__": __builtins__, "__name__": "gpuviz_compilecheck"}
    for name, entry in rec.get("namespace", {}).items():
        ns[name] = _namespace_value(entry)
    tree = ast.parse(rec["source"])
    fdef = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.name == rec["name"]), None)
    if fdef is None:
        raise ValueError(f"the recorded source has no function {rec['name']!r}")
    decorator = _decorator_info(fdef.decorator_list)
    fdef.decorator_list = []
    tree = ast.Module(body=[fdef], type_ignores=[])
    ast.increment_lineno(tree, rec.get("firstline", 1) - 1)  # line 1 of the source is co_firstlineno
    filename = _source_filename(rec.get("origin", "<kernel>").rsplit(":", 1)[0], rec["source"],
                                rec.get("firstline", 1))
    exec(compile(tree, filename, "exec"), ns)  # noqa: S102 (the learner's own kernel, as it ran)
    fn = ns[rec["name"]]
    if jit and rec.get("kind") == "device":
        opts = {**rec.get("options", {}), **decorator["options"]}
        fn = cuda.jit(*decorator["sigs"][:1], device=True, **opts)(fn)
    elif jit and rec.get("kind") == "njit":
        import numba

        fn = numba.njit(fn)
    return fn, decorator


def _namespace_value(entry: dict):
    import importlib

    kind = entry["kind"]
    if kind == "module":
        return importlib.import_module(entry["module"])
    if kind == "import":
        obj = importlib.import_module(entry["module"])
        for part in entry["attr"].split("."):
            obj = getattr(obj, part)
        return obj
    if kind == "value":
        return _unb64(entry["pickle"])
    if kind in ("device", "njit", "python"):
        return _rebuild({**entry["function"], "kind": kind}, jit=True)[0]
    raise ValueError(f"cannot rebuild a {kind!r} entry: {entry.get('error', '')}")


def _decorator_info(decorators) -> dict:
    """Literal signatures and options given to a `@cuda.jit(...)` decorator, if any."""
    info = {"sigs": [], "options": {}}
    for d in decorators:
        if not isinstance(d, ast.Call):
            continue
        if d.args:
            with contextlib.suppress(ValueError, SyntaxError):
                sigs = ast.literal_eval(d.args[0])
                info["sigs"] = [sigs] if isinstance(sigs, str) else [s for s in sigs if isinstance(s, str)]
        for kw in d.keywords:
            if kw.arg in ("fastmath", "debug", "lineinfo", "opt", "inline", "forceinline", "launch_bounds"):
                with contextlib.suppress(ValueError, SyntaxError):
                    info["options"][kw.arg] = ast.literal_eval(kw.value)
    return info


def _source_filename(filename: str, source: str, firstline: int) -> str:
    """A filename for the rebuilt code under which Numba's error messages can quote the kernel's lines.

    The real file when it still holds this source there; otherwise the lines go into linecache, under
    a name that cannot shadow a real file (which would break inspect.getsource in this process)."""
    lines = source.splitlines(keepends=True)
    if os.path.isfile(filename):
        with contextlib.suppress(OSError, UnicodeDecodeError), open(filename) as f:
            on_disk = f.readlines()[firstline - 1:firstline - 1 + len(lines)]
            if [ln.strip() for ln in on_disk] == [ln.strip() for ln in lines]:
                return filename
        filename += " (as recorded)"
    padded = ["\n"] * (firstline - 1) + lines
    linecache.cache[filename] = (sum(map(len, padded)), None, padded, filename)
    return filename


# ---------------------------------------------------------------------------------------------
# Kernels a notebook defines but never launched (a GPU-only branch): no record, so FAIL
# ---------------------------------------------------------------------------------------------

def notebook_kernels(paths) -> list[tuple[str, str, str]]:
    """(name, source, where) of every `@cuda.jit` kernel (not device function) in the code cells of
    the notebooks at `paths` (files or folders), wherever it sits in a cell: under an `if`, in a function."""
    found = []
    for nb in _notebook_files(paths):
        with open(nb, encoding="utf-8") as f:
            cells = json.load(f).get("cells", [])
        for i, cell in enumerate(cells, 1):
            if cell.get("cell_type") != "code":
                continue
            src = "".join(cell.get("source", []))
            lines = ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in src.splitlines()]  # IPython magics
            try:
                tree = ast.parse("\n".join(lines))
            except SyntaxError:
                continue  # not Python; nbval runs the cell and reports it
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and any(_is_kernel_decorator(d) for d in node.decorator_list):
                    first = min(d.lineno for d in node.decorator_list)
                    found.append((node.name, "\n".join(lines[first - 1:node.end_lineno]), f"{nb}, cell {i}"))
    return found


def _notebook_files(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in sorted(os.walk(p)):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                yield from (os.path.join(root, f) for f in sorted(files) if f.endswith(".ipynb"))
        else:
            yield p


def _is_kernel_decorator(d) -> bool:
    """`@cuda.jit` or `@cuda.jit(...)` without device=True."""
    call = d if isinstance(d, ast.Call) else None
    f = call.func if call else d
    if not (isinstance(f, ast.Attribute) and f.attr == "jit" and isinstance(f.value, (ast.Name, ast.Attribute))
            and (f.value.id if isinstance(f.value, ast.Name) else f.value.attr) == "cuda"):
        return False
    device = next((k.value for k in (call.keywords if call else []) if k.arg == "device"), None)
    return not (isinstance(device, ast.Constant) and device.value is True)


def _same_source(a: str, b: str) -> bool:
    """The same code, comments and layout aside (inspect.getsource keeps trailing comments, ast does not)."""
    def code(s):
        try:
            return ast.dump(ast.parse(textwrap.dedent(s)))
        except SyntaxError:
            return None

    return code(a) is not None and code(a) == code(b)


def check_notebooks(log, notebooks) -> list[Result]:
    """A failed Result for every kernel the notebooks define that the log has no record of."""
    recorded = {}
    for rec in read_log(log):
        recorded.setdefault(rec.get("name"), []).append(rec.get("source", ""))
    results = []
    for name, source, where in notebook_kernels(notebooks):
        if any(_same_source(source, r) for r in recorded.get(name, [])):
            continue
        results.append(Result(name, where, "never launched", None, False,
                              "defined in this notebook but never launched while the kernel log was written, "
                              "so it was not compiled for a GPU.\nIf it is launched only when gv.on_gpu(), give "
                              "it a small launch in simulator mode too (a few threads are enough), so the "
                              f"log records it ({ENV})."))
    return results


# ---------------------------------------------------------------------------------------------
# The ladder of `gpuviz bench`: compiled as it is launched, with registers and occupancy
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Resources:
    """What ptxas reports for one kernel: registers per thread, bytes spilled to local memory (stores,
    loads), the stack frame, and its own count of shared memory per block (None where it prints none)."""
    registers: int
    spill_stores: int
    spill_loads: int
    stack: int
    shared: int | None = None

    @property
    def spills(self) -> int:
        return self.spill_stores + self.spill_loads


def resources(ptx: str, cc) -> Resources:
    """Assemble `ptx` for `cc` with ptxas and read its report. ptxas comes inside nvJitLink, which
    numba-cuda installs (so it matches the PTX version NVVM writes); else a `ptxas` on PATH."""
    try:
        log = _nvjitlink_log(ptx, cc)
    except ImportError:
        log = _ptxas_log(ptx, cc)
    return parse_ptxas(log)


def parse_ptxas(log: str) -> Resources:
    """Resources of the first entry function in a `ptxas -v` (or nvJitLink -verbose) report."""
    import re

    log = log[log.find("Compiling entry function"):] if "Compiling entry function" in log else log
    regs = re.search(r"[Uu]sed (\d+) registers", log)
    spill = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", log)
    stack = re.search(r"(\d+) bytes stack frame", log)
    smem = re.search(r"(\d+) bytes smem", log)
    if not (regs and spill):
        raise ValueError(f"no register report in ptxas' output:\n{log[:500]}")
    return Resources(int(regs.group(1)), int(spill.group(1)), int(spill.group(2)),
                     int(stack.group(1)) if stack else 0, int(smem.group(1)) if smem else None)


def _nvjitlink_log(ptx: str, cc) -> str:
    from cuda.bindings import nvjitlink

    opts = [f"-arch=sm_{cc[0]}{cc[1]}", "-verbose"]
    handle = nvjitlink.create(len(opts), opts)
    try:
        data = ptx.encode()
        try:
            nvjitlink.add_data(handle, nvjitlink.InputType.PTX, data, len(data), "kernel.ptx")
            nvjitlink.complete(handle)
        except nvjitlink.nvJitLinkError as e:
            size = nvjitlink.get_error_log_size(handle)
            buf = bytearray(size)
            nvjitlink.get_error_log(handle, buf)
            raise RuntimeError(f"ptxas (nvJitLink) refused the PTX: {buf.decode(errors='replace').strip()}") from e
        size = nvjitlink.get_info_log_size(handle)
        buf = bytearray(size)
        nvjitlink.get_info_log(handle, buf)
        return buf.decode(errors="replace")
    finally:
        nvjitlink.destroy(handle)


def _ptxas_log(ptx: str, cc) -> str:
    import shutil
    import tempfile

    exe = shutil.which("ptxas")
    if exe is None:
        raise RuntimeError("neither nvJitLink (cuda.bindings.nvjitlink) nor ptxas is installed, so registers "
                           "cannot be counted: pip install 'numba-cuda[cu13]'")
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "kernel.ptx")
        with open(src, "w") as f:
            f.write(ptx)
        p = subprocess.run([exe, f"-arch=sm_{cc[0]}{cc[1]}", "-v", src, "-o", os.path.join(d, "kernel.cubin")],
                           capture_output=True, text=True, timeout=300, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"{exe} refused the PTX: {p.stderr.strip()[:500]}")
    return p.stdout + p.stderr


@dataclasses.dataclass
class LadderRow:
    """One ladder kernel on one target: compiled, assembled, and how many of its blocks fit on an SM."""
    name: str
    cc: tuple
    ok: bool
    threads: int = 0
    shared: int = 0          # static shared memory per block, from the kernel's source
    res: Resources | None = None
    occ: object = None       # gpuviz.launch.Occupancy
    message: str = ""

    def line(self) -> str:
        target = f"sm_{self.cc[0]}{self.cc[1]}"
        if self.res is None:
            return f"FAILED {self.name:<14} {target}\n" + textwrap.indent(self.message, "         ")
        r, o = self.res, self.occ
        head = _LADDER_ROW.format("ok" if self.ok else "FAILED", self.name, target, r.registers,
                                  f"{r.spill_stores}/{r.spill_loads}", self.shared, self.threads, o.blocks,
                                  f"{o.fraction:.0%}", o.limiter)
        return head if self.ok else head + "\n" + textwrap.indent(self.message, "         ")


_LADDER_ROW = "{:<6} {:<14} {:<6} {:>5} {:>11} {:>7} {:>7} {:>6} {:>6}  {}"
LADDER_HEADER = _LADDER_ROW.format("", "kernel", "cc", "regs", "spill st/ld", "smem B", "threads", "blk/SM",
                                   "occup.", "limited by")


def check_ladder(ccs=DEFAULT_CCS, sizes=None) -> list[LadderRow]:
    """Compile every `gpuviz bench` kernel as bench launches it (three C-contiguous float32 matrices, its
    block, the grids of `sizes` validated against GPU limits), assemble it with ptxas for each cc, and
    work out its occupancy. A row fails if the kernel does not compile, spills registers to local
    memory, or fits fewer blocks per SM than its rung's `min_blocks_per_sm`."""
    from gpuviz import bench, launch
    from gpuviz import matmul_kernels as mk

    _require_real_target()
    rows = []
    for r in mk.LADDER:
        threads = math.prod(launch.dim3(r.block))
        shared = launch.static_shared_bytes(r.kernel.py_func) or 0
        for cc in ccs:
            cc = tuple(cc)
            row = LadderRow(r.name, cc, False, threads, shared)
            try:
                for n in sizes or bench.DEFAULT_SIZES:
                    launch.validate(r.grid(n, n), r.block, shared)
                with _compiling_for(cc):
                    row.res = resources(mk.ptx(r.name, cc), cc)
            except Exception as e:  # noqa: BLE001
                row.message = _first_lines(e)
                rows.append(row)
                continue
            row.occ = launch.occupancy(row.res.registers, threads, shared, cc)
            problems = []
            if row.res.spills:
                problems.append(f"spills registers to local memory ({row.res.spill_stores} bytes stored, "
                                f"{row.res.spill_loads} loaded per thread): use fewer values per thread")
            if row.occ.blocks < r.min_blocks_per_sm:
                problems.append(f"{row.occ.blocks} block(s) per SM, below the {r.min_blocks_per_sm} its rung "
                                f"promises ({row.occ.limiter} limit it): loosen the launch bounds' register cap "
                                "or shrink the tile")
            row.ok, row.message = not problems, "\n".join(problems)
            rows.append(row)
    return rows


def toolchain() -> str:
    """numba-cuda's version and the CUDA release of its NVVM, from the header of the PTX it writes."""
    import re
    from importlib import metadata

    from numba import cuda
    from numba import types as nt

    def probe(a):
        a[0] = 1

    ptx = cuda.compile_ptx(probe, (nt.float32[::1],), cc=DEFAULT_CCS[0])[0]
    release = re.search(r"release (\d+\.\d+)", ptx)
    return f"numba-cuda {metadata.version('numba-cuda')}, NVVM of CUDA {release.group(1) if release else '?'}"


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    """`gpuviz compile-check [LOG] [--notebooks DIR ...] [--ladder] [--cc 7.5 --cc 9.0]`: 0 if every
    kernel compiles for every target (and every notebook kernel was recorded, and the ladder fits)."""
    p = argparse.ArgumentParser(prog="gpuviz compile-check", description=__doc__.split("\n\n")[0])
    p.add_argument("log", nargs="?", help=f"kernel log written by runs with {ENV}=LOG")
    p.add_argument("--notebooks", nargs="+", metavar="PATH", default=[],
                   help="notebooks (or folders of them) the log was recorded from: each kernel they define "
                        "must have been launched (needs LOG)")
    p.add_argument("--ladder", action="store_true",
                   help="also the kernels of `gpuviz bench`, with registers, spills and blocks per SM")
    p.add_argument("--cc", action="append", metavar="MAJOR.MINOR",
                   help="compute capability to compile for (repeatable; default 7.5 and 9.0)")
    a = p.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
        return subprocess.run([sys.executable, "-m", "gpuviz.compilecheck", *argv], env=env, check=False).returncode
    try:
        ccs = [tuple(int(x) for x in c.split(".")) for c in a.cc] if a.cc else list(DEFAULT_CCS)
    except ValueError:
        p.error("--cc takes MAJOR.MINOR, for example 7.5")
    if not a.log and not a.ladder:
        p.error("give a kernel log, --ladder, or both")
    if a.notebooks and not a.log:
        p.error("--notebooks needs the kernel log recorded from them")
    if a.ladder and any(cc not in _launch_limits() for cc in ccs):
        p.error(f"--ladder knows the SM limits of {', '.join(f'{x}.{y}' for x, y in _launch_limits())} only")
    if a.log and not os.path.exists(a.log):
        print(f"compile-check: no kernel log at {a.log}; run the notebooks with {ENV}={a.log} first",
              file=sys.stderr)
        return 2
    problem = _cannot_compile_here()
    if problem:
        print(f"compile-check: cannot compile PTX here ({problem}).\n"
              "Install numba-cuda with its CUDA libraries: pip install 'numba-cuda[cu13]'", file=sys.stderr)
        return 2
    print(f"compile-check: {toolchain()}")
    failed = 0
    if a.log:
        results = check_log(a.log, ccs) + check_notebooks(a.log, a.notebooks)
        for r in results:
            print(r.line())
        if not results:
            print(f"compile-check: {a.log} records no kernels; was the launch hook installed (gv.setup())?")
            return 1
        bad = [r for r in results if not r.ok]
        kernels = len({(r.name, r.origin, r.signature) for r in results if r.cc})
        print(f"{kernels} kernel(s) compiled for {', '.join(f'sm_{x}{y}' for x, y in ccs)}")
        print(f"compile-check: {len(results) - len(bad)} passed, {len(bad)} failed")
        failed += len(bad)
    if a.ladder:
        rows = check_ladder(ccs)
        print("gpuviz bench kernels, as launched (float32 C-contiguous A, B, C); registers per thread "
              "from ptxas:")
        print(LADDER_HEADER)
        for row in rows:
            print(row.line())
        bad = [row for row in rows if not row.ok]
        print(f"compile-check --ladder: {len(rows) - len(bad)} passed, {len(bad)} failed")
        failed += len(bad)
    return 1 if failed else 0


def _launch_limits():
    from gpuviz.launch import SM_LIMITS

    return SM_LIMITS


def _cannot_compile_here() -> str | None:
    """None if a trivial kernel compiles to PTX here, else why not."""
    try:
        _require_real_target()
        from numba import cuda
        from numba import types as nt

        def probe(a):
            a[0] = 1

        cuda.compile_ptx(probe, (nt.float32[::1],), cc=DEFAULT_CCS[0])
    except Exception as e:  # noqa: BLE001
        return _first_lines(e, 3)
    return None


if __name__ == "__main__":
    raise SystemExit(main())
