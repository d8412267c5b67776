"""Launch configurations: normalize them and reject what a real GPU would reject.

The CUDA simulator runs a 2000-thread block without complaint; every GPU refuses it.
`validate` gives the same clear error in both modes, naming the limit and the value.
"""
from __future__ import annotations

import ast
import inspect
import textwrap

import numpy as np

MAX_THREADS_PER_BLOCK = 1024
MAX_BLOCK_DIM = (1024, 1024, 64)
MAX_GRID_DIM = (2**31 - 1, 65535, 65535)
MAX_STATIC_SHARED_BYTES = 48 * 1024


class LaunchError(ValueError):
    """A launch configuration that a CUDA GPU would reject."""


def dim3(value, what: str = "dimension") -> tuple[int, int, int]:
    """Normalize an int or a tuple of 1 to 3 ints to an (x, y, z) tuple."""
    dims = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not 1 <= len(dims) <= 3:
        raise LaunchError(f"{what} must have 1 to 3 entries, got {value!r}")
    out = []
    for d in dims:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
            raise LaunchError(f"{what} entries must be integers, got {d!r} in {value!r}")
        out.append(int(d))
    return tuple(out + [1] * (3 - len(out)))


def validate(griddim, blockdim, shared_bytes: int | None = 0) -> tuple[tuple, tuple]:
    """Check a launch against the limits of every CUDA GPU since compute capability 3.0.

    Returns the normalized (griddim, blockdim). Raises LaunchError naming the limit.
    `shared_bytes` is the static shared memory per block (None when unknown).
    """
    grid = dim3(griddim, "griddim")
    block = dim3(blockdim, "blockdim")
    for axis, g, limit in zip("xyz", grid, MAX_GRID_DIM):
        if g < 1:
            raise LaunchError(f"grid dimension {axis} is {g}: every grid dimension must be at least 1 "
                              f"(griddim={griddim!r}). Did the block count round down to zero?")
        if g > limit:
            raise LaunchError(f"grid dimension {axis} is {g}, over the limit of {limit} (griddim={griddim!r})")
    for axis, b in zip("xyz", block):
        if b < 1:
            raise LaunchError(f"block dimension {axis} is {b}: every block dimension must be at least 1 "
                              f"(blockdim={blockdim!r})")
    threads = block[0] * block[1] * block[2]
    if threads > MAX_THREADS_PER_BLOCK:
        raise LaunchError(f"a block of {threads} threads is over the limit of {MAX_THREADS_PER_BLOCK} "
                          f"threads per block (blockdim={blockdim!r}); use more blocks of fewer threads")
    for axis, b, limit in zip("xyz", block, MAX_BLOCK_DIM):
        if b > limit:
            raise LaunchError(f"block dimension {axis} is {b}, over the limit of {limit} for {axis} "
                              f"(limits are {MAX_BLOCK_DIM}; blockdim={blockdim!r})")
    if shared_bytes is not None and shared_bytes > MAX_STATIC_SHARED_BYTES:
        raise LaunchError(f"the kernel declares {shared_bytes} bytes of static shared memory per block, over "
                          f"the limit of {MAX_STATIC_SHARED_BYTES} bytes (48 KiB); use smaller tiles")
    return grid, block


def _itemsize(dtype) -> int:
    bits = getattr(dtype, "bitwidth", None)  # a numba type such as numba.float32
    if bits is not None:
        return bits // 8
    return np.dtype(dtype).itemsize


def _is_shared_array(call: ast.Call) -> bool:
    f = call.func
    return (isinstance(f, ast.Attribute) and f.attr == "array"
            and isinstance(f.value, ast.Attribute) and f.value.attr == "shared")


def static_shared_bytes(pyfunc) -> int | None:
    """Bytes of `cuda.shared.array` declared in a kernel's source; None if they can't be worked out.

    Shapes and dtypes are evaluated in the function's own globals and closure, so constants such
    as `TPB = 16` work. A shape of 0 declares dynamic shared memory, which counts as 0 here.
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(pyfunc)))
        names = dict(pyfunc.__globals__)
        names.update(inspect.getclosurevars(pyfunc).nonlocals)
    except (OSError, TypeError, SyntaxError):
        return None
    total = 0
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _is_shared_array(node)):
            continue
        args = {**dict(zip(("shape", "dtype"), node.args)), **{k.arg: k.value for k in node.keywords}}
        try:
            shape = eval(compile(ast.Expression(args["shape"]), "<shape>", "eval"), names)
            dtype = eval(compile(ast.Expression(args["dtype"]), "<dtype>", "eval"), names)
            count = int(np.prod(shape))
            total += max(count, 0) * _itemsize(dtype)
        except Exception:
            return None
    return total
