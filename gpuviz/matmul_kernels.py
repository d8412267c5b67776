"""The matrix-multiply ladder of notebooks 04 and 05, in one place: `gpuviz bench` times these
kernels, the notebooks run them and show their source (`inspect.getsource`), and the kernels the
learner writes as exercises are held equal to the notebooks' solutions by tests/test_exercises_04_05.py.

Every kernel computes C = A @ B for C-contiguous float32 arrays, A (M x K), B (K x N), C (M x N),
of any size (not only multiples of the tile), and is launched as `kernel[grid, block](A, B, C)`;
`LADDER` says how (block, grid) for each. Import this module after `gv.setup()` (it imports
numba.cuda, which must know first whether to use the simulator).

Tile sizes are module constants because Numba needs shared and local array shapes at compile time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from numba import cuda, float32

# ---- 1. naive: one thread per element of C --------------------------------------------------------
NAIVE_BLOCK = (32, 8)       # 32 threads along x: one warp covers 32 neighbouring values of x


@cuda.jit
def naive_traps(A, B, C):
    """Both classic traps: x runs down the rows (uncoalesced) and `0.` makes acc a float64."""
    row, col = cuda.grid(2)                   # trap 1: neighbouring threads get neighbouring ROWS
    if row < C.shape[0] and col < C.shape[1]:
        acc = 0.                              # trap 2: a Python float is a float64 in Numba
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc


@cuda.jit
def naive_rows(A, B, C):
    """Trap 1 only: float32 arithmetic, but x runs down the rows."""
    row, col = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = float32(0.0)
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc


@cuda.jit
def naive_float64(A, B, C):
    """Trap 2 only: coalesced, but the sum runs in float64."""
    col, row = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = 0.
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc


@cuda.jit
def matmul_coalesced(A, B, C):
    col, row = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = float32(0.0)
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc


# ---- 2. shared-memory tiles: a block computes a TILE x TILE tile of C ------------------------------
TILE = 32


@cuda.jit
def matmul_tiled(A, B, C):
    sA = cuda.shared.array((TILE, TILE), float32)
    sB = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    col, row = cuda.grid(2)
    acc = float32(0.0)
    n_tiles = (A.shape[1] + TILE - 1) // TILE        # rounded up: a last, partial tile counts
    for t in range(n_tiles):
        k = t * TILE + tx                    # this thread loads A[row, k] ...
        if row < A.shape[0] and k < A.shape[1]:
            sA[ty, tx] = A[row, k]
        else:
            sA[ty, tx] = float32(0.0)        # ... or a zero past the edge, which adds nothing
        k = t * TILE + ty                    # ... and B[k, col]
        if k < B.shape[0] and col < B.shape[1]:
            sB[ty, tx] = B[k, col]
        else:
            sB[ty, tx] = float32(0.0)
        cuda.syncthreads()                   # the tiles are complete before anyone reads them
        for kk in range(TILE):
            acc += sA[ty, kk] * sB[kk, tx]
        cuda.syncthreads()                   # everyone is done with them before they are overwritten
    if row < C.shape[0] and col < C.shape[1]:
        C[row, col] = acc


# ---- 3. 1D register blocking: each thread computes TM values of one column of C --------------------
BM, BN, BK, TM = 64, 64, 8, 8      # block tile BM x BN of C, K in steps of BK; BN * (BM // TM) threads
# each thread loads one element of the BM x BK tile of A and one of the BK x BN tile of B


@cuda.jit
def matmul_regblock1d(A, B, C):
    sA = cuda.shared.array((BM, BK), float32)
    sB = cuda.shared.array((BK, BN), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y    # column tx of the tile, rows ty*TM ... ty*TM+TM-1
    row0, col0 = cuda.blockIdx.y * BM, cuda.blockIdx.x * BN
    t = ty * BN + tx                               # 0 ... BM*BK-1
    acc = cuda.local.array(TM, float32)            # TM running sums, kept in registers
    for i in range(TM):
        acc[i] = float32(0.0)
    for k0 in range(0, A.shape[1], BK):
        r, c = row0 + t // BK, k0 + t % BK         # one element of the A tile
        if r < A.shape[0] and c < A.shape[1]:
            sA[t // BK, t % BK] = A[r, c]
        else:
            sA[t // BK, t % BK] = float32(0.0)
        r, c = k0 + t // BN, col0 + t % BN         # one element of the B tile
        if r < B.shape[0] and c < B.shape[1]:
            sB[t // BN, t % BN] = B[r, c]
        else:
            sB[t // BN, t % BN] = float32(0.0)
        cuda.syncthreads()
        for k in range(BK):
            b = sB[k, tx]                          # read once, used TM times
            for i in range(TM):
                acc[i] += sA[ty * TM + i, k] * b
        cuda.syncthreads()
    col = col0 + tx
    for i in range(TM):
        row = row0 + ty * TM + i
        if row < C.shape[0] and col < C.shape[1]:
            C[row, col] = acc[i]


# ---- 4. 2D register blocking: each thread computes a TM2 x TN2 grid of C ----------------------------
BM2, BN2, BK2, TM2, TN2 = 128, 128, 8, 8, 8
TX2, TY2 = BN2 // TN2, BM2 // TM2          # block of 16 x 16 = 256 threads
NT2 = TX2 * TY2
PAD2 = 4                                    # the A tile is stored transposed; padding avoids bank conflicts
SA_COLS2 = BM2 + PAD2                       # (Numba wants shapes as plain constants, not expressions)
LOADS_A2 = BM2 * BK2 // NT2                 # elements of each tile every thread loads per step (4)
LOADS_B2 = BK2 * BN2 // NT2
# The 64 sums of its 8x8 tile take ptxas to about 147 registers per thread, and then only one block of
# 256 threads fits on an SM: while it waits for global memory, nothing else runs. Launch bounds make
# ptxas fit two blocks (at most 128 registers) with no spill to local memory; `gpuviz compile-check
# --ladder` reports registers and blocks per SM, and fails if this kernel falls below MIN_BLOCKS2.
MIN_BLOCKS2 = 2


def jit_launch_bounds(threads: int, min_blocks: int):
    """`@cuda.jit(launch_bounds=(threads, min_blocks))`: ptxas limits registers per thread so that
    `min_blocks` blocks of `threads` threads fit on one SM. The simulator's `cuda.jit` has no such
    option (nor registers): there it is plain `@cuda.jit`."""
    if getattr(cuda, "compile_ptx", None) is None:
        return cuda.jit
    return cuda.jit(launch_bounds=(threads, min_blocks))


@jit_launch_bounds(NT2, MIN_BLOCKS2)
def matmul_regblock2d(A, B, C):
    sA = cuda.shared.array((BK2, SA_COLS2), float32)   # transposed: sA[k, m] = A[row0 + m, k0 + k]
    sB = cuda.shared.array((BK2, BN2), float32)
    a = cuda.local.array(TM2, float32)
    b = cuda.local.array(TN2, float32)
    acc = cuda.local.array((TM2, TN2), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    t = ty * TX2 + tx
    row0, col0 = cuda.blockIdx.y * BM2, cuda.blockIdx.x * BN2
    M, K, N = A.shape[0], A.shape[1], B.shape[1]
    for i in range(TM2):
        for j in range(TN2):
            acc[i, j] = float32(0.0)
    for k0 in range(0, K, BK2):
        for ld in range(LOADS_A2):
            e = t + ld * NT2
            m, k = e // BK2, e % BK2                      # 8 neighbouring threads read 8 neighbouring k
            if row0 + m < M and k0 + k < K:
                sA[k, m] = A[row0 + m, k0 + k]
            else:
                sA[k, m] = float32(0.0)
        for ld in range(LOADS_B2):
            e = t + ld * NT2
            k, n = e // BN2, e % BN2                      # 32 neighbouring threads read 32 neighbouring n
            if k0 + k < K and col0 + n < N:
                sB[k, n] = B[k0 + k, col0 + n]
            else:
                sB[k, n] = float32(0.0)
        cuda.syncthreads()
        for k in range(BK2):
            for i in range(TM2):                          # this thread's rows: ty, ty + 16, ty + 32, ...
                a[i] = sA[k, ty + i * TY2]
            for j in range(TN2):                          # its columns: tx, tx + 16, tx + 32, ...
                b[j] = sB[k, tx + j * TX2]
            for i in range(TM2):                          # an outer product: TM2*TN2 FMAs from
                for j in range(TN2):                      # TM2+TN2 shared-memory reads
                    acc[i, j] += a[i] * b[j]
        cuda.syncthreads()
    for i in range(TM2):
        row = row0 + ty + i * TY2
        for j in range(TN2):
            col = col0 + tx + j * TX2
            if row < M and col < N:
                C[row, col] = acc[i, j]


# ---- the ladder --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rung:
    """One kernel of the ladder and how to launch it.

    tile: the (rows, columns) of C one block computes; x_rows: True when the grid's x runs over rows
    (the uncoalesced naive kernels). reuse: the (rows, columns) of C that share each load from global
    memory, which sets the bytes the kernel requests (`requested_bytes`).
    """
    name: str
    label: str
    kernel: object
    block: tuple
    tile: tuple
    x_rows: bool = False
    reuse: tuple = (1, 1)
    float64: bool = False
    min_blocks_per_sm: int = 1   # what its registers and shared memory must allow on sm_75 and sm_90

    def grid(self, M: int, N: int) -> tuple:
        gm, gn = math.ceil(M / self.tile[0]), math.ceil(N / self.tile[1])
        return (max(gm, 1), max(gn, 1)) if self.x_rows else (max(gn, 1), max(gm, 1))

    def launch(self, A, B, C):
        M, N = C.shape
        self.kernel[self.grid(M, N), self.block](A, B, C)

    def requested_bytes(self, M: int, N: int, K: int, itemsize: int = 4) -> int:
        """Bytes the threads ask global memory for (caches ignored): every load of A is shared by
        reuse[1] columns of C and every load of B by reuse[0] rows; C is written once."""
        rm, rn = self.reuse
        return itemsize * (M * K * math.ceil(N / rn) + K * N * math.ceil(M / rm) + M * N)


LADDER = [
    Rung("naive_traps", "naive: x on rows, float64 sum", naive_traps, NAIVE_BLOCK, (32, 8), x_rows=True,
         float64=True),
    Rung("naive_rows", "naive: x on rows (uncoalesced)", naive_rows, NAIVE_BLOCK, (32, 8), x_rows=True),
    Rung("naive_float64", "naive: coalesced, float64 sum", naive_float64, NAIVE_BLOCK, (8, 32), float64=True),
    Rung("coalesced", "coalesced", matmul_coalesced, NAIVE_BLOCK, (8, 32)),
    Rung("tiled", f"shared-memory tiles {TILE}x{TILE}", matmul_tiled, (TILE, TILE), (TILE, TILE),
         reuse=(TILE, TILE)),
    Rung("regblock1d", f"1D register blocking ({TM} per thread)", matmul_regblock1d, (BN, BM // TM), (BM, BN),
         reuse=(BM, BN)),
    Rung("regblock2d", f"2D register blocking ({TM2}x{TN2} per thread)", matmul_regblock2d, (TX2, TY2),
         (BM2, BN2), reuse=(BM2, BN2), min_blocks_per_sm=MIN_BLOCKS2),
]
RUNGS = {r.name: r for r in LADDER}


def signature():
    """The argument types every ladder kernel is launched with: three C-contiguous float32 matrices."""
    from numba import types

    return (types.float32[:, ::1],) * 3


def ptx(name: str, cc=(7, 5)) -> str:
    """The PTX (GPU assembly) Numba generates for ladder kernel `name`, with its launch bounds. Under the
    simulator, which cannot compile, it is compiled in a fresh process without the simulator (needs
    numba-cuda's NVVM)."""
    import subprocess
    import sys

    if getattr(cuda, "compile_ptx", None) is not None:
        kernel = RUNGS[name].kernel
        bounds = kernel.targetoptions.get("launch_bounds")
        return cuda.compile_ptx(kernel.py_func, signature(), cc=cc, launch_bounds=bounds)[0]
    from gpuviz.runtime import env_without_simulator

    env = env_without_simulator()
    code = f"import sys; from gpuviz import matmul_kernels as mk; sys.stdout.write(mk.ptx({name!r}, {tuple(cc)!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"could not compile {name} to PTX here: {out.stderr.strip().splitlines()[-1:]}")
    return out.stdout
