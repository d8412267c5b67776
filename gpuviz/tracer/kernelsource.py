"""Make a learner's kernel runnable by the tracer: find its Python function, point its globals at the
stand-in `cuda` module, and turn every `cuda.syncthreads()` into a `yield` so the scheduler can stop
a thread at the barrier and run the others up to it (one thread at a time, no OS threads). Warp
shuffles (`cuda.shfl_down_sync` and its kin) yield the same way: a lane's value is only known once
the lane it reads from has reached the same shuffle.
"""
from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import types

SYNC = {"syncthreads": "sync", "syncthreads_count": "count", "syncthreads_and": "and",
        "syncthreads_or": "or"}
SHUFFLES = {"shfl_sync": "shfl_idx", "shfl_up_sync": "shfl_up", "shfl_down_sync": "shfl_down",
            "shfl_xor_sync": "shfl_xor"}


def python_function(kernel):
    """The Python function behind a CUDADispatcher (.py_func), a simulator FakeCUDAKernel (.fn), a
    configured launch (kernel[grid, block]) or a plain function."""
    kernel = getattr(kernel, "dispatcher", kernel)
    for attr in ("py_func", "fn"):
        f = getattr(kernel, attr, None)
        if isinstance(f, types.FunctionType):
            return f
    if isinstance(kernel, types.FunctionType):
        return kernel
    raise TypeError(f"not a kernel: expected a @cuda.jit kernel or a Python function, got {type(kernel).__name__}")


def source(kernel) -> str:
    """The Python source of a kernel as it was written (`gv.kernel_source`): a @cuda.jit kernel in either
    mode, a configured launch, a device function or a plain function."""
    return textwrap.dedent(inspect.getsource(python_function(kernel)))


def source_tree(kernel) -> ast.Module:
    """The kernel's source parsed: the one place a kernel's code becomes an AST. Raises OSError or
    TypeError when there is no source (a function made by exec), SyntaxError never for a real kernel."""
    return ast.parse(source(kernel))


def _names(code) -> set[str]:
    """Global and attribute names used by a code object and the code nested in it."""
    out = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out |= _names(c)
    return out


class _Rewrite(ast.NodeTransformer):
    """cuda.syncthreads_count(p) -> (yield ("count", line, p)); cuda.shfl_down_sync(m, v, d) ->
    (yield ("shfl_down", line, (m, v, d))); gen_device(x) -> (yield from gen_device(x))."""

    def __init__(self, generators):
        self.generators = generators

    def visit_Call(self, node):
        self.generic_visit(node)
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        if name in SYNC:
            pred = node.args[0] if node.args else ast.Constant(None)
            return ast.copy_location(ast.Yield(ast.Tuple(
                [ast.Constant(SYNC[name]), ast.Constant(node.lineno), pred], ast.Load())), node)
        if name in SHUFFLES:
            return ast.copy_location(ast.Yield(ast.Tuple(
                [ast.Constant(SHUFFLES[name]), ast.Constant(node.lineno), ast.Tuple(node.args, ast.Load())],
                ast.Load())), node)
        if isinstance(f, ast.Name) and f.id in self.generators:
            return ast.copy_location(ast.YieldFrom(node), node)
        return node


def _with_barriers(pyfunc, generators):
    """Recompile `pyfunc` as a generator function that yields at each barrier (same globals, lines)."""
    try:
        tree = source_tree(pyfunc)
    except (OSError, TypeError):
        raise RuntimeError(f"the tracer needs the source of {pyfunc.__name__} to run its cuda.syncthreads(); "
                           f"define it in a file or a notebook cell") from None
    fdef = tree.body[0]
    fdef.decorator_list = []
    ast.increment_lineno(tree, pyfunc.__code__.co_firstlineno - 1)
    fdef = _Rewrite(generators).visit(fdef)
    freevars = list(pyfunc.__code__.co_freevars)
    factory = ast.FunctionDef(
        name="_gpuviz_factory", args=ast.arguments(posonlyargs=[], args=[ast.arg(v) for v in freevars],
                                                   kwonlyargs=[], kw_defaults=[], defaults=[]),
        body=[fdef, ast.Return(ast.Name(fdef.name, ast.Load()))], decorator_list=[], returns=None)
    if "type_params" in ast.FunctionDef._fields:      # Python >= 3.12
        factory.type_params = []
    module = ast.fix_missing_locations(ast.Module([factory], []))
    ns = {}
    exec(compile(module, pyfunc.__code__.co_filename, "exec"), pyfunc.__globals__, ns)  # noqa: S102 the learner's own code
    cells = [c.cell_contents for c in (pyfunc.__closure__ or ())]
    fn = ns["_gpuviz_factory"](*cells)
    fn.__defaults__ = pyfunc.__defaults__
    return fn


class KernelEnv:
    """While active, the kernel and its device functions see `fake` where they see numba.cuda."""

    def __init__(self, fake, shim=None):
        self.fake, self.shim = fake, shim
        cuda = sys.modules.get("numba.cuda")
        self._cuda, self._numba = cuda, sys.modules.get("numba")
        self._by_id = {id(getattr(cuda, n)): getattr(fake, n)
                       for n in fake.INTRINSICS if cuda is not None and hasattr(cuda, n)}
        self._prepared: dict = {}
        self._generators: set = set()
        self._swaps: list = []
        self._seen: set = set()

    def _standin(self, value):
        """What a kernel global should become while tracing, or None to leave it."""
        if value is None or isinstance(value, (int, float, str, bool)):
            return None
        if self._cuda is not None and value is self._cuda:
            return self.fake
        if self._numba is not None and value is self._numba and self.shim is not None:
            return self.shim
        if id(value) in self._by_id:
            return self._by_id[id(value)]
        if not isinstance(value, types.FunctionType):
            inner = getattr(value, "py_func", None) or getattr(value, "fn", None)
            if isinstance(inner, types.FunctionType):       # a @cuda.jit(device=True) function
                return self.prepare(inner)
        return None

    def prepare(self, pyfunc):
        """The function to run for `pyfunc`: its globals swapped, a generator if it has barriers."""
        if pyfunc in self._prepared:
            return self._prepared[pyfunc]
        self._prepared[pyfunc] = pyfunc
        code, g = pyfunc.__code__, pyfunc.__globals__
        gen_callees = set()
        for name in _names(code):
            if name in g and (new := self._standin(g[name])) is not None:
                self._swap_global(g, name, new)
                if new in self._generators:
                    gen_callees.add(name)
        for name, cell in zip(code.co_freevars, pyfunc.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if (new := self._standin(value)) is not None:
                self._swaps.append((cell, None, value))
                cell.cell_contents = new
                if new in self._generators:
                    gen_callees.add(name)
        fn = pyfunc
        if gen_callees or (SYNC.keys() | SHUFFLES.keys()) & _names(code):
            fn = _with_barriers(pyfunc, gen_callees)
            self._generators.add(fn)
        self._prepared[pyfunc] = fn
        return fn

    def is_generator(self, fn) -> bool:
        return fn in self._generators

    def _swap_global(self, g, name, new):
        key = (id(g), name)
        if key not in self._seen:
            self._seen.add(key)
            self._swaps.append((g, name, g[name]))
        g[name] = new

    def restore(self):
        for target, name, old in reversed(self._swaps):
            if name is None:
                target.cell_contents = old
            else:
                target[name] = old
        self._swaps.clear()
