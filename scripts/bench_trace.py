"""Time gpuviz.tracer.scheduler on a shared-memory tiled matmul (16x16 tiles) for a few sizes.

    python scripts/bench_trace.py

The tracer runs every CUDA thread in Python, so its cost grows with threads x accesses per thread.
"""
import time

import numpy as np
from numba import cuda, float32

from gpuviz.tracer.scheduler import trace

TPB = 16


@cuda.jit
def matmul_tiled(A, B, C):
    sA = cuda.shared.array((TPB, TPB), float32)
    sB = cuda.shared.array((TPB, TPB), float32)
    col, row = cuda.grid(2)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    acc = float32(0.0)
    for k in range(A.shape[1] // TPB):
        sA[ty, tx] = A[row, k * TPB + tx]
        sB[ty, tx] = B[k * TPB + ty, col]
        cuda.syncthreads()
        for j in range(TPB):
            acc += sA[ty, j] * sB[j, tx]
        cuda.syncthreads()
    C[row, col] = acc


def main():
    rng = np.random.default_rng(0)
    print(f"{'n':>4} {'threads':>8} {'accesses':>9} {'trace s':>8} {'metrics s':>9} {'us/access':>9}")
    for n in (16, 32, 48, 64):
        A = rng.random((n, n), dtype=np.float32)
        B = rng.random((n, n), dtype=np.float32)
        C = np.zeros((n, n), np.float32)
        t0 = time.perf_counter()
        t = trace(matmul_tiled, (n // TPB, n // TPB), (TPB, TPB), A, B, C)
        t1 = time.perf_counter()
        metrics = t.metrics
        t2 = time.perf_counter()
        assert np.allclose(C, A @ B, rtol=1e-4) and not t.problems and metrics["A"]["efficiency"] == 1
        print(f"{n:>4} {n * n:>8} {len(t.log):>9} {t1 - t0:>8.2f} {t2 - t1:>9.2f} {1e6 * (t1 - t0) / len(t.log):>9.2f}")


if __name__ == "__main__":
    main()
