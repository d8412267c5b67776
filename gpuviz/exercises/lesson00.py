"""Exercises of notebook 00, why GPUs: count a matmul's FLOPs and bytes, find the CPU/GPU crossover."""
from __future__ import annotations

import numpy as np

from gpuviz.exercises.check import FunctionExercise

SEED = 0


def _dims(rng, n=6):
    """Edge cases, then distinct random dimensions (so mixed-up dimensions show)."""
    fixed = [(1, 1, 1), (2, 3, 4), (5, 1, 7), (4096, 4096, 4096)]
    return fixed + [tuple(int(v) for v in rng.choice(np.arange(2, 2000), 3, replace=False)) for _ in range(n)]


def flops_reference(m, n, k):
    return 2 * m * n * k


_FLOPS = FunctionExercise(
    "matmul_flops", flops_reference, _dims, seed=SEED, mistakes=[
        (lambda m, n, k: m * n * k,
         ("That counts one operation per multiply-add; a multiply-add is two FLOPs (a multiply and an add), "
          "so the product does 2·m·n·k.")),
        (lambda m, n, k: m * n * (2 * k - 1),
         ("That counts k - 1 additions per output element. By convention each of the k multiply-adds counts "
          "as two FLOPs: 2·m·n·k.")),
        (lambda m, n, k: 2 * n ** 3,
         ("That uses n for every dimension. An (m×k) @ (k×n) product has m·n outputs, each a sum of k "
          "products: 2·m·n·k.")),
        (lambda m, n, k: 2 * m * n,
         "The inner dimension k is missing: each of the m·n outputs needs k multiply-adds."),
    ])


def _bytes_cases(rng):
    return _dims(rng, 3) + [d + (s,) for d, s in zip(_dims(rng, 3)[1:], (2, 8, 1, 4, 2, 8))]


def nbytes_reference(m, n, k, itemsize=4):
    return itemsize * (m * k + k * n + m * n)


_BYTES = FunctionExercise(
    "matmul_bytes", nbytes_reference, _bytes_cases, seed=SEED + 1, mistakes=[
        (lambda m, n, k, itemsize=4: itemsize * (m * k + k * n),
         "That counts only A and B: the result C (m×n) must be written to memory too."),
        (lambda m, n, k, itemsize=4: itemsize * (m * k + k * n + 2 * m * n),
         "That counts C twice, a read and a write. C = A @ B only writes C."),
        (lambda m, n, k, itemsize=4: m * k + k * n + m * n,
         "That counts elements, not bytes: multiply by itemsize."),
        (lambda m, n, k, itemsize=4: 4 * (m * k + k * n + m * n),
         "That always uses 4 bytes per element: use the itemsize argument (2 for float16, 8 for float64)."),
        (lambda m, n, k, itemsize=4: 8 * (m * k + k * n + m * n),
         "That uses 8 bytes per element (float64): use the itemsize argument."),
        (lambda m, n, k, itemsize=4: itemsize * 2 * m * n * k,
         ("That moves two values per multiply-add, as if nothing were reused. The minimum moves each matrix "
          "once: itemsize·(m·k + k·n + m·n).")),
    ])


def _timings(rng):
    """(sizes, cpu_seconds, gpu_seconds): edge cases, a GPU that wins then loses again, random curves."""
    cases = [
        ([], [], []),
        ([64], [1.0], [2.0]),
        ([64], [2.0], [1.0]),
        ([64, 128, 256, 512], [1.0, 2.0, 4.0, 8.0], [3.0, 3.0, 3.0, 3.0]),
        ([64, 128, 256, 512, 1024], [1.0, 3.0, 4.0, 8.0, 16.0], [2.0, 2.5, 5.0, 3.0, 3.0]),   # wins, loses, wins
        ([16, 32, 64, 128], [1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]),                  # never
        ([16, 32, 64, 128], [2.0, 2.0, 3.0, 4.0], [1.0, 2.0, 1.0, 1.0]),                  # a tie is no win
    ]
    for _ in range(6):
        sizes = [int(2 ** p) for p in range(5, 5 + int(rng.integers(3, 9)))]
        n = np.array(sizes, float)
        cpu = 1e-9 * n ** 3 * rng.uniform(0.8, 1.2, len(n))
        gpu = rng.uniform(1e-4, 1e-3) + 1e-11 * n ** 3 * rng.uniform(0.8, 1.2, len(n))
        cases.append((sizes, [float(v) for v in cpu], [float(v) for v in gpu]))
    cases.append((np.array(cases[4][0]), np.array(cases[4][1]), np.array(cases[4][2])))   # NumPy arrays too
    return cases


def crossover_reference(sizes, cpu_seconds, gpu_seconds):
    wins = np.asarray(gpu_seconds, float) < np.asarray(cpu_seconds, float)
    losses = np.flatnonzero(~wins)
    first = 0 if losses.size == 0 else int(losses[-1]) + 1
    return None if first >= len(wins) else sizes[first]


def _first_win(sizes, cpu, gpu):
    return next((s for s, c, g in zip(sizes, cpu, gpu) if g < c), None)


def _index(sizes, cpu, gpu):
    x = crossover_reference(sizes, cpu, gpu)
    return None if x is None else list(sizes).index(x)


def _last_loss(sizes, cpu, gpu):
    losses = [s for s, c, g in zip(sizes, cpu, gpu) if g >= c]
    return losses[-1] if losses else None


_CROSSOVER = FunctionExercise(
    "crossover", crossover_reference, _timings, seed=SEED + 2, mistakes=[
        (_first_win,
         ("That returns the first size where the GPU is faster, but the GPU loses again at a larger size. The "
          "crossover is the size from which the GPU wins at every larger size too.")),
        (_index, "That returns a position in the list, not a size: return sizes[i]."),
        (lambda s, c, g: crossover_reference(s, g, c),
         "That compares the wrong way round: the GPU is faster where gpu_seconds < cpu_seconds."),
        (_last_loss, "That returns the last size where the CPU still wins; the crossover is the size after it."),
        (lambda s, c, g: -1 if crossover_reference(s, c, g) is None else crossover_reference(s, c, g),
         "When the GPU never stays ahead, return None, not -1."),
    ])

CHECKS = {
    "00-flops": (2, _FLOPS),
    "00-bytes": (2, _BYTES),
    "00-crossover": (2, _CROSSOVER),
}
