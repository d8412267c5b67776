"""Exercises of notebook 04, matrix multiply I: the coalesced naive kernel, the naive kernel's
arithmetic intensity, and a prediction with the roofline (the best GFLOP/s of the naive kernel and of
cuBLAS on a T4), which the notebook then sets beside measured or recorded rates.

The kernel runs under the tracer on a square and a ragged problem; the tracer's coalescing metrics
catch a kernel that is right but maps x to rows, and the source is read for a float64 accumulator.
"""
from __future__ import annotations

import math

import numpy as np

from gpuviz.exercises.check import Case, FunctionExercise, KernelExercise, coalesced, predicted_numbers

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


# the coalescing message points back to the evidence of section 1, not to the fixed line
_UNCOALESCED = ("Section 1's trace of matmul_naive showed the same numbers. The 32 lanes of a warp have consecutive x: "
                "which index of A, B and C changes from one lane to the next in your kernel, and which index of a "
                "row-major array is contiguous in memory? `gv.hint(\"04-coalesced\")` leads you there step by step.")

_coalesced = KernelExercise(
    "matmul_coalesced", reference=matmul_reference, cases=_matmul_cases, seed=SEED, float32=True, rtol=1e-4, atol=1e-4,
    hints={"out_of_bounds": "The grid is rounded up to whole blocks: only a thread whose row is below C.shape[0] and "
                            "whose column is below C.shape[1] may touch A, B and C. And cuda.grid(2) returns (x, y): "
                            "is your x the index the check's grid covers with its x blocks, the column?"},
    mistakes=[(lambda A, B, C: {"C": (A.astype(np.float64) @ B.astype(np.float64)).T},
               "C holds the transpose of A @ B: write C[row, col].")],
    requires=[coalesced("A", "B", "C", hint=_UNCOALESCED)])


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


# ---- 04-attainable: predict with the roofline, then measure (notebook 04, section 5)


ROOF_N = 2048                  # the largest size notebook 04 times on a GPU
ROOF_GPU = "T4"                # Colab's GPU: 8.1 TFLOP/s FP32, 320 GB/s on its datasheet
ATTAINABLE_RTOL = 0.02


def attainable_reference(n=ROOF_N, gpu=ROOF_GPU) -> dict:
    """The roofline's best GFLOP/s at n: the coalesced naive kernel at the intensity of the traffic its
    threads request (exercise 2), cuBLAS at the compulsory intensity n / 6."""
    from gpuviz import roofline

    s = roofline.SPECS[gpu]
    peak, bw = s.fp32_tflops * 1e3, s.bandwidth_gbs
    return {"naive": roofline.attainable(naive_intensity_reference(n), peak, bw),
            "cuBLAS": roofline.attainable(n / 6, peak, bw)}


def _attainable_mistakes(n=ROOF_N, gpu=ROOF_GPU):
    from gpuviz import roofline

    s = roofline.SPECS[gpu]
    peak, bw = s.fp32_tflops * 1e3, s.bandwidth_gbs
    naive, comp = naive_intensity_reference(n), n / 6
    return [
        ("naive", peak, "that is the compute roof. At about 0.25 FLOP per byte the naive kernel is far left of the "
                        f"ridge point ({peak / bw:.1f} FLOP/B): memory caps it at intensity x bandwidth."),
        ("naive", bw / naive, "that is bandwidth / intensity: the memory roof is intensity (FLOP/byte) times "
                              "bandwidth (byte/s)."),
        ("naive", naive * bw / 1e3, "units: GB/s times FLOP/byte is already GFLOP/s, no factor 1000."),
        ("naive", naive * bw * 1e3, "units: GB/s times FLOP/byte is already GFLOP/s, no factor 1000."),
        ("naive", 2 * naive * bw, "twice the roof: each step of the naive kernel loads two float32 values, "
                                  "8 bytes, for its 2 FLOPs (a multiply and an add)."),
        ("naive", naive / 2 * bw, "half the roof: a multiply and an add are two FLOPs per step of the sum."),
        ("naive", roofline.attainable(comp, peak, bw) if comp * bw < peak else comp * bw,
         "that is the compulsory intensity, n / 6: the naive kernel requests a row of A and a column of B for "
         "every element of C (exercise 2's intensity)."),
        ("cuBLAS", comp * bw, "that is the memory slope at n / 6 FLOP/B, past the ridge point: there the compute "
                              "roof (the peak) caps the rate. The lower roof binds."),
        ("cuBLAS", naive * bw, "that is the naive kernel's intensity: cuBLAS moves each matrix about once, "
                               "the compulsory n / 6 FLOP per byte."),
        ("cuBLAS", peak / 1e3, "that is TFLOP/s: the prediction is in GFLOP/s."),
        ("cuBLAS", bw / comp, "that is bandwidth / intensity: the memory roof is intensity times bandwidth, "
                              "and here the compute roof is lower anyway."),
    ]


def _attainable(value):
    return predicted_numbers(value, attainable_reference(), _attainable_mistakes(), what="predicted",
                             unit="GFLOP/s", rtol=ATTAINABLE_RTOL)


CHECKS = {
    "04-coalesced": (2, _coalesced),
    "04-intensity": (1, _naive_intensity),
    "04-attainable": (2, _attainable),
}
