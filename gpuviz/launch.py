"""Launch configurations: normalize them, reject what a real GPU would reject, and say how many
blocks fit on one streaming multiprocessor.

The CUDA simulator runs a 2000-thread block without complaint; every GPU refuses it.
`validate` gives the same clear error in both modes, naming the limit and the value.
`occupancy` is the arithmetic of NVIDIA's occupancy calculator (cuda_occupancy.h): from a kernel's
registers per thread (ptxas, see gpuviz.course.compilecheck), threads per block and shared memory, the
blocks resident per SM on a given compute capability, and which resource limits them.
"""
from __future__ import annotations

import ast
import inspect
import math
from dataclasses import dataclass

import numpy as np

MAX_THREADS_PER_BLOCK = 1024
MAX_BLOCK_DIM = (1024, 1024, 64)
MAX_GRID_DIM = (2**31 - 1, 65535, 65535)
MAX_STATIC_SHARED_BYTES = 48 * 1024
WARP_SIZE = 32        # threads that execute together; every NVIDIA GPU so far
SECTOR_BYTES = 32     # the unit of a global memory transaction: a warp's request touches whole sectors
BANKS = 32            # shared memory banks; one 4-byte word per bank per cycle
WORD_BYTES = 4        # the width of a bank


@dataclass(frozen=True)
class SMLimits:
    """What one streaming multiprocessor holds at once (CUDA C++ Programming Guide, table of technical
    specifications per compute capability; granularities as in cuda_occupancy.h)."""
    max_warps: int
    max_blocks: int
    shared_bytes: int                    # the largest shared-memory carveout per SM
    shared_reserved_per_block: int       # shared memory the system keeps for every block (cc 8.0 and later)
    shared_granularity: int              # shared memory is given to a block in units of this many bytes
    registers: int = 64 * 1024           # 32-bit registers per SM
    registers_per_thread: int = 255      # the most one thread can have
    register_granularity: int = 256      # registers are given to a warp in units of this many
    sub_partitions: int = 4              # the register file is split between 4 schedulers


SM_LIMITS = {
    (7, 5): SMLimits(max_warps=32, max_blocks=16, shared_bytes=64 * 1024, shared_reserved_per_block=0,
                     shared_granularity=256),     # Turing: Colab's T4
    (9, 0): SMLimits(max_warps=64, max_blocks=32, shared_bytes=228 * 1024, shared_reserved_per_block=1024,
                     shared_granularity=128),     # Hopper: H100, H200
}


@dataclass(frozen=True)
class Occupancy:
    """Blocks of one kernel resident on one SM, the resource that limits them, and the warps that gives."""
    blocks: int
    limiter: str             # 'registers', 'warps', 'blocks' or 'shared memory'
    warps: int               # resident warps per SM
    fraction: float          # warps / the SM's maximum: the theoretical occupancy


def occupancy(registers_per_thread: int, threads_per_block: int, shared_bytes: int = 0, cc=(9, 0)) -> Occupancy:
    """Theoretical occupancy of a kernel on compute capability `cc` (a key of SM_LIMITS).

    Registers are allocated per warp, rounded up to `register_granularity`, and each of the SM's
    sub-partitions holds whole warps; shared memory per block is rounded up to `shared_granularity`
    after adding what the system reserves. A block that cannot fit at all gives 0 blocks."""
    lim = SM_LIMITS[tuple(cc)]
    warps_per_block = math.ceil(threads_per_block / WARP_SIZE)
    by = {"warps": lim.max_warps // warps_per_block, "blocks": lim.max_blocks}
    if registers_per_thread > lim.registers_per_thread:
        by["registers"] = 0
    elif registers_per_thread > 0:
        per_warp = math.ceil(registers_per_thread * WARP_SIZE / lim.register_granularity) * lim.register_granularity
        warps_per_partition = lim.registers // lim.sub_partitions // per_warp
        by["registers"] = warps_per_partition * lim.sub_partitions // warps_per_block
    shared = shared_bytes + lim.shared_reserved_per_block
    if shared > 0:
        shared = math.ceil(shared / lim.shared_granularity) * lim.shared_granularity
        by["shared memory"] = lim.shared_bytes // shared
    limiter = min(by, key=by.get)        # on a tie the first: the SM's own warp and block limits
    blocks = by[limiter]
    return Occupancy(blocks, limiter, blocks * warps_per_block, blocks * warps_per_block / lim.max_warps)


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
        from gpuviz.tracer.kernelsource import source_tree

        tree = source_tree(pyfunc)
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
