"""Triton in the course (notebook 13): import it, bounds-check kernels in its interpreter, and compile
every launched kernel for real GPUs.

    triton = tritonkit.load()       # where triton is missing: an error that says how to get it, in one line

Without a GPU, `gv.setup()` sets TRITON_INTERPRET=1 before triton is imported: `@triton.jit` kernels
then run on the CPU with NumPy, on CPU torch tensors, exactly but slowly. The interpreter does not check
addresses: an unmasked load past the end of a tensor reads whatever memory follows it, and an unmasked
store overwrites it. `bounds_checked(*tensors)` makes every load and store of a kernel run inside it
raise `OutOfBounds` instead, naming the program and the tensor; the exercise checks of lesson 13 use it.

Like Numba's kernels (gpuviz.kernelrecord), every Triton kernel launched while GPUVIZ_KERNEL_LOG names a
file is recorded there (the course's compile check subscribes to launches, gpuviz.hooks): its source, what its free names refer to, its argument types, constexprs and
`num_warps`/`num_stages`. `compile_record(rec, cc)` rebuilds it in a process without the interpreter and
compiles it with Triton's own compiler, to PTX and a cubin with the bundled ptxas, for a GPU that need
not be present: `triton.compile(ASTSource(...), target=GPUTarget("cuda", 75, 32))`.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import json
import os
import sys
import textwrap

HOWTO = ('Triton is not installed here. Get it with: pip install "gpuviz[triton]" (Linux; CUDA builds of torch, '
         "Colab's included, already bring it), then restart the kernel.")
ENV_INTERPRET = "TRITON_INTERPRET"
DEFAULT_CCS = ((7, 5), (9, 0))
_TORCH_TYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float64": "fp64", "int8": "i8",
                "int16": "i16", "int32": "i32", "int64": "i64", "uint8": "u8", "bool": "i1"}


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("triton") is not None


def interpreting() -> bool:
    return os.environ.get(ENV_INTERPRET, "0") not in ("", "0")


def load():
    """Import triton for a notebook; where it is missing, a ModuleNotFoundError that says how to get it.

    Installs the launch recording (for the compile-for-GPU check). In interpreter mode, triton must be
    imported after gv.setup(): its own library functions (tl.max, tl.sum, ...) are made at import."""
    if not available():
        raise ModuleNotFoundError(HOWTO)
    from gpuviz.runtime import SetupError

    fresh = "triton" not in sys.modules
    import triton
    from triton.runtime.interpreter import InterpretedFunction

    if interpreting() and not fresh and not isinstance(triton.language.standard.max, InterpretedFunction):
        raise SetupError("triton was imported before gv.setup(), so it cannot run in its interpreter on this "
                         "machine without a GPU. Fix: restart the kernel (Kernel > Restart) and run "
                         "`import gpuviz as gv; gv.setup()` before any `import triton`.")
    _install_recording()
    return triton


# ---------------------------------------------------------------------------------------------
# Bounds checking in the interpreter
# ---------------------------------------------------------------------------------------------

class OutOfBounds(IndexError):
    """A load or store of a Triton kernel, run in the interpreter, reached outside every tensor."""


def _extent(t) -> tuple[int, int]:
    """[first byte, last byte + 1) of a tensor view, strides included."""
    span = sum((n - 1) * abs(s) for n, s in zip(t.shape, t.stride())) if t.numel() else -1
    return t.data_ptr(), t.data_ptr() + (span + 1) * t.element_size()


@contextlib.contextmanager
def bounds_checked(**tensors):
    """Inside: a kernel launched in the interpreter raises OutOfBounds on the first load or store (mask
    applied) whose address lies outside every one of `tensors` (name=tensor). Interpreter mode only."""
    import numpy as np
    from triton.runtime import interpreter as ti

    b = ti.interpreter_builder
    ranges = {name: _extent(t) for name, t in tensors.items()}

    def check(ptrs, mask, what):
        addr = np.asarray(ptrs.data).astype(np.int64)                       # (shape of the block)
        active = np.broadcast_to(np.asarray(mask.data, bool), addr.shape)
        inside = np.zeros(addr.shape, bool)
        for lo, hi in ranges.values():
            inside |= (addr >= lo) & (addr < hi)
        bad = active & ~inside
        if bad.any():
            a = int(addr[bad].flat[0])
            near = min(ranges, key=lambda n: min(abs(a - ranges[n][0]), abs(a - ranges[n][1])))
            lo, hi = ranges[near]
            t = tensors[near]
            index = (a - lo) // t.element_size()          # in elements from the start of the tensor
            at = f"{near}[{index}]" if t.dim() == 1 else f"element offset {index} of {near}"
            where = (f"{at}, past the end of {near} ({t.numel()} elements)" if a >= hi
                     else f"{at}, before the start of {near}")
            pid = b.grid_idx[:_ndim(b)]
            raise OutOfBounds(f"program {pid[0] if len(pid) == 1 else pid}: {what} {int(bad.sum())} of {bad.size} "
                              f"elements outside the tensors, the first at {where}.")

    load, store = b.create_masked_load, b.create_masked_store

    def checked_load(ptrs, mask, other, *a):
        check(ptrs, mask, "tl.load reads")
        return load(ptrs, mask, other, *a)

    def checked_store(ptrs, value, mask, *a):
        check(ptrs, mask, "tl.store writes")
        return store(ptrs, value, mask, *a)

    b.create_masked_load, b.create_masked_store = checked_load, checked_store
    try:
        yield
    finally:
        del b.create_masked_load, b.create_masked_store                    # back to the class's methods


def _ndim(b) -> int:
    dims = getattr(b, "grid_dim", None) or (0, 0, 0)
    return max([1] + [i + 1 for i, n in enumerate(dims) if n > 1])


def unwrap_error(e: BaseException) -> BaseException:
    """The learner's error behind the interpreter's InterpreterError wrapper."""
    while type(e).__name__ == "InterpreterError" and e.__cause__ is not None:
        e = e.__cause__
    return e


# ---------------------------------------------------------------------------------------------
# Recording launches (the learner's process)
# ---------------------------------------------------------------------------------------------

_installed = False
_seen: dict = {}


def _install_recording() -> None:
    """Wrap the launch of interpreted and compiled kernels to record them. Idempotent."""
    global _installed
    if _installed:
        return
    from triton.runtime.interpreter import InterpretedFunction
    from triton.runtime.jit import JITFunction

    from gpuviz import hooks

    for cls in (InterpretedFunction, JITFunction):
        run = cls.run

        @functools.wraps(run)
        def recorded_run(self, *args, _run=run, grid, warmup, **kwargs):
            out = _run(self, *args, grid=grid, warmup=warmup, **kwargs)
            if not warmup:          # after the run: a stub or a kernel that failed is not worth compiling
                hooks.launched(self, args, kwargs)
            return out

        cls.run = recorded_run
    _installed = True


def _constexpr_names(fn) -> list[str]:
    ann = inspect.get_annotations(fn)
    return [n for n, a in ann.items() if "constexpr" in (a if isinstance(a, str) else getattr(a, "__name__", ""))]


def signature(fn, args, kwargs) -> tuple[dict, dict, dict]:
    """(signature, constexprs, options) of a launch, in the words of triton.compiler.ASTSource."""
    params = list(inspect.signature(fn).parameters)
    bound = dict(zip(params, args)) | {k: v for k, v in kwargs.items() if k in params}
    consts = set(_constexpr_names(fn))
    sig, constexprs = {}, {}
    for name in params:
        v = bound.get(name)
        if name in consts:
            sig[name] = "constexpr"
            constexprs[name] = getattr(v, "value", v)
        elif hasattr(v, "data_ptr"):
            sig[name] = "*" + _TORCH_TYPES[str(v.dtype).removeprefix("torch.")]
        elif isinstance(v, bool):
            sig[name] = "i1"
        elif isinstance(v, int):
            sig[name] = "i32" if -2**31 <= v < 2**31 else "i64"
        elif isinstance(v, float):
            sig[name] = "fp32"
        else:
            raise TypeError(f"argument {name} = {type(v).__name__}: not something a kernel can take")
    options = {k: kwargs[k] for k in ("num_warps", "num_stages") if k in kwargs}
    return sig, constexprs, options


def record(kernel, args, kwargs, path: str | None = None) -> None:
    """Append a launch of a Triton kernel to GPUVIZ_KERNEL_LOG (or `path`). Never raises."""
    path = path or os.environ.get("GPUVIZ_KERNEL_LOG")
    if not path:
        return
    from gpuviz import kernelrecord

    try:
        fn = kernel.fn
        sig, constexprs, options = signature(fn, args, kwargs)
        key = json.dumps([path, sig, constexprs, options], sort_keys=True, default=str)
        if key in _seen.setdefault(fn, set()):
            return
        _seen[fn].add(key)
        rec = _capture(fn, stack=())
        rec.update(kind="triton", signature=sig, constexprs=constexprs, launch_options=options,
                   argtypes=[{"kind": "type", "repr": f"{n}: {t}" if t != "constexpr" else f"{n}={constexprs[n]!r}"}
                             for n, t in sig.items()])
    except Exception as e:  # noqa: BLE001  a learner's run must not break over the check
        rec = {"kind": "triton", "name": getattr(kernel, "__name__", "?"), "origin": "?", "argtypes": [],
               "errors": [f"recording failed: {type(e).__name__}: {e}"]}
    try:
        kernelrecord._append(path, rec)
    except Exception as e:  # noqa: BLE001
        print(f"gpuviz.tritonkit: could not write {path}: {e}", file=sys.stderr)


def _capture(fn, stack) -> dict:
    """Source, origin and free names of a @triton.jit function (nested @triton.jit calls included)."""
    from gpuviz import kernelrecord

    rec = {"name": fn.__name__, "origin": kernelrecord._origin(fn), "errors": [],
           "source": textwrap.dedent(inspect.getsource(fn)), "firstline": fn.__code__.co_firstlineno}
    ns = {}
    fdef = next(n for n in ast.parse(rec["source"]).body if isinstance(n, ast.FunctionDef))
    annotations = [a.annotation for a in fdef.args.args + fdef.args.kwonlyargs if a.annotation is not None]
    in_annotations = {n.id for a in annotations for n in ast.walk(a) if isinstance(n, ast.Name)}  # tl.constexpr
    for name in sorted(kernelrecord._global_names(fn.__code__) | in_annotations):
        if name not in fn.__globals__:
            continue                                    # a builtin (range, min ...)
        value = fn.__globals__[name]
        inner = getattr(value, "fn", None)
        if type(value).__name__ in ("InterpretedFunction", "JITFunction") and inspect.isfunction(inner):
            if inner in stack:
                ns[name] = {"kind": "missing", "error": "recursive @triton.jit functions are not supported"}
            else:
                ns[name] = {"kind": "triton", "function": _capture(inner, stack + (fn,))}
                rec["errors"] += ns[name]["function"]["errors"]
        else:
            ns[name] = kernelrecord._capture_value(getattr(value, "value", value) if type(value).__name__ ==
                                                   "constexpr" else value, name, stack + (fn,))
            if type(value).__name__ == "constexpr" and "pickle" in ns[name]:
                ns[name]["constexpr"] = True
            if "error" in ns[name]:
                rec["errors"].append(f"{fn.__name__}: global {name!r}: {ns[name]['error']}")
    rec["namespace"] = ns
    return rec


# ---------------------------------------------------------------------------------------------
# Compiling for a GPU that is not here (a process without TRITON_INTERPRET)
# ---------------------------------------------------------------------------------------------

def _rebuild(rec: dict):
    """The recorded function, as a fresh @triton.jit function."""
    import triton

    from gpuviz import kernelrecord

    ns = {"__builtins__": __builtins__, "__name__": "gpuviz_tritoncheck"}
    for name, entry in rec.get("namespace", {}).items():
        if entry["kind"] == "triton":
            ns[name] = _rebuild(entry["function"])
        else:
            value = kernelrecord._namespace_value(entry)
            ns[name] = triton.language.constexpr(value) if entry.get("constexpr") else value
    tree = ast.parse(rec["source"])
    fdef = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == rec["name"])
    fdef.decorator_list = []                    # the decorator's names were not captured: jit here
    tree = ast.Module(body=[fdef], type_ignores=[])
    ast.increment_lineno(tree, rec.get("firstline", 1) - 1)
    filename = kernelrecord._source_filename(rec.get("origin", "<kernel>").rsplit(":", 1)[0], rec["source"],
                                             rec.get("firstline", 1))
    exec(compile(tree, filename, "exec"), ns)  # noqa: S102 (the learner's own kernel, as it ran)
    return triton.jit(ns[rec["name"]])


def compile_record(rec: dict, cc: tuple):
    """Compile one recorded launch for compute capability `cc`; returns Triton's CompiledKernel."""
    if not available():
        raise RuntimeError("a Triton kernel was recorded, but " + HOWTO)
    if interpreting():
        if "triton" in sys.modules:
            raise RuntimeError(f"compiling for a GPU needs Triton's compiler, and triton was imported with "
                               f"{ENV_INTERPRET}=1: compile in a process without it (gpuviz compile-check)")
        del os.environ[ENV_INTERPRET]        # not imported yet: this process compiles, it interprets nothing
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    fn = _rebuild(rec)
    src = ASTSource(fn, rec["signature"], rec["constexprs"])
    return triton.compile(src, target=GPUTarget("cuda", cc[0] * 10 + cc[1], 32), options=rec["launch_options"])


def summary(compiled, cc) -> dict:
    """What Triton's compiler made of a kernel for `cc`: warps, stages, shared memory, and the matrix
    instructions in the PTX (mma: Tensor Cores since Volta/Turing; wgmma: Hopper's; fma.f32: no Tensor Core)."""
    import re

    ptx, md = compiled.asm["ptx"], compiled.metadata
    return {"cc": f"sm_{cc[0]}{cc[1]}", "num_warps": md.num_warps, "num_stages": md.num_stages,
            "shared_bytes": md.shared, "mma": len(re.findall(r"^\s*mma\.", ptx, re.M)),
            "wgmma": len(re.findall(r"^\s*wgmma\.mma_async", ptx, re.M)),
            "fma": len(re.findall(r"^\s*fma\.rn\.f32", ptx, re.M))}


def describe(s: dict) -> str:
    return (f"{s['cc']}: {s['num_warps']} warps ({32 * s['num_warps']} threads) per program, {s['num_stages']} "
            f"stages, {s['shared_bytes']:,} bytes of shared memory; in the PTX {s['mma']} mma and {s['wgmma']} "
            f"wgmma (Tensor Core) instructions, {s['fma']} fma.f32")


def compile_report(kernel, args, meta: dict, ccs=DEFAULT_CCS) -> list[dict]:
    """Compile one launch of `kernel` (arguments as for kernel[grid](*args, **meta)) for each GPU in `ccs`,
    in a separate process without the interpreter; a `summary` per GPU. No GPU needed."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "kernel.jsonl")
        record(kernel, args, meta, path=log)
        from gpuviz.runtime import env_without_simulator

        env = env_without_simulator(ENV_INTERPRET)
        p = subprocess.run([sys.executable, "-m", "gpuviz.tritonkit", log, *[f"{a}.{b}" for a, b in ccs]],
                           capture_output=True, text=True, env=env, check=False)
    if p.returncode:
        raise RuntimeError(f"compiling {kernel.__name__} failed:\n{p.stdout}{p.stderr[-3000:]}")
    return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]


def main(argv=None) -> int:
    """`python -m gpuviz.tritonkit LOG [7.5 9.0 ...]`: compile each recorded Triton launch; one JSON summary
    per launch and GPU."""
    import warnings

    warnings.filterwarnings("ignore", message="TRITON_DEFAULT_FP_FUSION")
    from gpuviz import kernelrecord

    argv = sys.argv[1:] if argv is None else argv
    ccs = [tuple(int(x) for x in c.split(".")) for c in argv[1:]] or list(DEFAULT_CCS)
    for rec in kernelrecord.read_log(argv[0]):
        if rec.get("kind") != "triton":
            continue
        if rec.get("errors"):
            print(f"{rec['name']}: not captured: {'; '.join(rec['errors'])}", file=sys.stderr)
            return 1
        for cc in ccs:
            print(json.dumps({"name": rec["name"], **summary(compile_record(rec, cc), cc)}))
    return 0


# ---------------------------------------------------------------------------------------------
# What torch.compile generates
# ---------------------------------------------------------------------------------------------

def inductor_code(fn, *args) -> str:
    """The Python module torch.compile's inductor generates for `fn(*args)`, without compiling or running it.

    On CUDA tensors that is what a GPU runs: Triton kernels, and calls to cuBLAS for matrix products. On
    CPU tensors inductor normally writes C++; here it is switched to its Triton backend for the CPU
    (`cpu_backend = "triton"`), which writes the same kind of Triton kernels. Without a GPU Triton has no
    active driver to name its backend by, so inductor's cache key gets a fixed name instead."""
    from unittest import mock

    import torch
    import torch._inductor.config as cfg
    import torch.utils._triton as torch_triton
    from torch._inductor.utils import get_code

    on_cpu = all(getattr(a, "device", torch.device("cpu")).type == "cpu" for a in args)
    patches = [mock.patch.object(cfg, "fx_graph_cache", False)]    # a cache hit would skip the code generation
    if on_cpu:
        patches += [mock.patch.object(cfg, "cpu_backend", "triton"),
                    mock.patch.object(torch_triton, "triton_hash_with_backend", lambda: "cpu-interpreter")]
    with contextlib.ExitStack() as stack:
        for p in patches:
            stack.enter_context(p)
        codes = get_code(torch.compile(fn), *args)
    return "\n".join(codes)


def kernels_in(module_code: str) -> dict[str, str]:
    """{kernel name: source} of the Triton kernels in a module written by inductor."""
    import re

    out = {}
    for src in re.findall(r"'''(.*?)'''", module_code, re.DOTALL):
        m = re.search(r"@triton\.jit\s*\ndef (\w+)\(", src)
        if m:
            out[m.group(1)] = src[m.start():].strip()
    return out


if __name__ == "__main__":
    raise SystemExit(main())
