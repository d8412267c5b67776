"""Exercises of notebook 04, matrix multiply I: the coalesced naive kernel, the naive kernel's
arithmetic intensity, and the roofline's attainable rate.

The kernel runs under the tracer on a square and a ragged problem; the tracer's coalescing metrics
catch a kernel that is right but maps x to rows, and the source is read for a float64 accumulator.
"""
from __future__ import annotations

import math

import numpy as np

from gpuviz.exercises.check import COL_ROW, Case, FunctionExercise, KernelExercise, coalesced

SEED = 404
NAIVE_BLOCK = (32, 8)


def matmul_reference(A, B, C):
    return {"C": A.astype(np.float64) @ B.astype(np.float64)}


def _matmul_cases(rng, block=NAIVE_BLOCK):
    for M, K, N in ((32, 32, 32), (20, 37, 45)):        # square first (coalescing), then ragged (guards)
        A = rng.standard_normal((M, K)).astype(np.float32)
        B = rng.standard_normal((K, N)).astype(np.float32)
        grid = (math.ceil(N / block[0]), math.ceil(M / block[1]))     # x along the columns of C, y along its rows
        yield Case((A, B, np.full((M, N), np.nan, np.float32)), grid, block,
                   f"C = A @ B with A {M}x{K}, B {K}x{N}, launched [{grid}, {block}]", shape=(M, N))


_coalesced = KernelExercise(
    "matmul_coalesced", reference=matmul_reference, cases=_matmul_cases, seed=SEED, float32=True, rtol=1e-4, atol=1e-4,
    hints={"out_of_bounds": f"Guard with `if row < C.shape[0] and col < C.shape[1]:`. And {COL_ROW}"},
    mistakes=[(lambda A, B, C: {"C": (A.astype(np.float64) @ B.astype(np.float64)).T},
               "C holds the transpose of A @ B: write C[row, col].")],
    requires=[coalesced("A", "B", "C")])


def naive_intensity_reference(n):
    return 2 * n**3 / (4 * (2 * n**3 + n**2))


def _cases_n(rng):
    return [(1,), (2,), (64,), (1000,), (4096,)] + [(int(n),) for n in rng.integers(3, 5000, 3)]


_naive_intensity = FunctionExercise(
    "naive_intensity", naive_intensity_reference, _cases_n, mistakes=[
        (lambda n: n / 6, "n / 6 is the intensity of the compulsory traffic (A, B and C moved once each); the naive "
                          "kernel reads a whole row of A and a whole column of B for EVERY element of C."),
        (lambda n: 2 * n**3 / (4 * 2 * n**3), "that leaves out the write of C: n*n more floats."),
        (lambda n: 2 * n**3 / (8 * (2 * n**3 + n**2)), "that is half the answer: it counts 8-byte elements (A, B "
                                                      "and C are float32, 4 bytes), or one FLOP per step of the sum "
                                                      "(a multiply and an add are two FLOPs)."),
        (lambda n: 4 * (2 * n**3 + n**2) / (2 * n**3), "that is bytes per FLOP, upside down."),
    ])


def attainable_reference(intensity, peak_gflops, bandwidth_gbs):
    return min(peak_gflops, intensity * bandwidth_gbs)


def _cases_roof(rng):
    cases = [(0.25, 67000.0, 3350.0), (100.0, 67000.0, 3350.0), (20.0, 67000.0, 3350.0), (1 / 6, 8100.0, 320.0),
             (25.3125, 8100.0, 320.0), (682.7, 8100.0, 320.0)]
    cases += [(float(i), float(p), float(b)) for i, p, b in zip(rng.uniform(0.05, 500, 4), rng.uniform(5e3, 1e5, 4),
                                                                rng.uniform(200, 5000, 4))]
    return cases


_attainable = FunctionExercise(
    "attainable", attainable_reference, _cases_roof, mistakes=[
        (lambda i, p, b: max(p, i * b), "max instead of min: the lower roof is the one that binds."),
        (lambda i, p, b: i * b, "the memory slope alone: past the ridge point the compute peak caps the rate."),
        (lambda i, p, b: p, "the compute peak alone: at low intensity memory bandwidth caps the rate."),
        (lambda i, p, b: min(p, b / i), "bandwidth / intensity: the memory roof is intensity (FLOP/byte) times "
                                        "bandwidth (byte/s)."),
        (lambda i, p, b: min(p, i * b / 1e3), "units: GB/s times FLOP/byte is already GFLOP/s, no factor 1000."),
    ])


CHECKS = {
    "04-coalesced": (2, _coalesced),
    "04-intensity": (1, _naive_intensity),
    "04-attainable": (2, _attainable),
}
