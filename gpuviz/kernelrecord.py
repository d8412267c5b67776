"""A kernel as a record: captured where it runs, rebuilt and compiled for a GPU that need not be here.

The CUDA simulator does no type checking, so a kernel that runs there can still fail to compile for a
GPU. `record(kernel, args)` captures a launched @cuda.jit kernel as one JSON line: its source, its
argument types, and what its free names refer to (modules, constants, device functions, captured
recursively). It never raises: what it cannot capture it writes down. `compile_record(rec, cc)`
rebuilds the kernel from its record in a process without the simulator and compiles it to PTX with
`cuda.compile_ptx`. No GPU is needed, only numba-cuda[cu13] (or [cu12]).

Used by the course's compile check (gpuviz.course.compilecheck, which subscribes `record` to every
launch), by the exercise checks (gpuviz.exercises.compileproof) and by gpuviz.tritonkit for Triton kernels.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import dis
import hashlib
import inspect
import json
import linecache
import os
import pickle
import subprocess
import sys
import types
import weakref

from gpuviz.tracer.kernelsource import python_function, source

ENV = "GPUVIZ_KERNEL_LOG"
DEFAULT_CCS = ((7, 5), (9, 0))
MAX_ARRAY_BYTES = 1 << 20  # global NumPy arrays up to this size are captured (Numba makes them constants)
_seen = weakref.WeakKeyDictionary()  # function -> argument types already written by this process


# ---------------------------------------------------------------------------------------------
# Recording (the learner's process, usually under the simulator)
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
        print(f"gpuviz.course.compilecheck: could not write {path}: {e}", file=sys.stderr)


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
        rec["source"] = source(fn)
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
        if modname.startswith(("numba.cuda", "gpuviz.tracer.fakecuda")) or mod.startswith("numba.cuda.simulator"):
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
# Rebuilding and compiling (a separate process, without the simulator)
# ---------------------------------------------------------------------------------------------

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


def _require_real_target() -> None:
    from numba.cuda.core import config

    if config.ENABLE_CUDASIM:
        raise RuntimeError("the compile check needs Numba's real CUDA target: run it in a process without "
                           "NUMBA_ENABLE_CUDASIM (python -m gpuviz.course.compilecheck removes it for you)")


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
    """The PTX of `kernel` (`gv.kernel_ptx`; a @cuda.jit kernel, e.g. one written in a notebook) compiled for `cc` with the
    types of the launch arguments `args`. No GPU is needed. Under the simulator, which cannot compile,
    it runs in a child process without it. Raises RuntimeError where this installation cannot compile."""
    return kernels_ptx([(kernel, args)], cc)[0]


def kernels_ptx(launches, cc=(7, 5)) -> list[str]:
    """kernel_ptx for several (kernel, args) pairs at once (`gv.kernels_ptx`): under the simulator, one child process."""
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
    from gpuviz.runtime import env_without_simulator

    env = env_without_simulator()
    code = ("import json, sys; from gpuviz import kernelrecord as c; r = json.load(sys.stdin); "
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


