"""Exercises of notebook 11, choosing a GPU: predict with the roofline (gpuviz.roofline's `bound` and
`attainable`, which the learner uses rather than rewrites), then measure. The learner predicts the
smallest matrix size that is compute-bound on two GPUs, and the roofline's time of two course
workloads on a T4; the notebook then times them on a GPU, or shows recorded and datasheet figures.

Answers are `<name>_reference`; the checks are reached through CHECKS only.
"""
from __future__ import annotations

import math

from gpuviz.exercises.check import predicted_numbers

CROSSOVER_RTOL = 0.02
TIME_RTOL = 0.02
VECTOR_N = 2**26                 # notebook 11's vector add: 64 M float32 elements
MATMUL_N = 4096                  # notebook 11's matmul that moves each matrix once
# (name, GPU, precision, bytes per element) of the crossover exercise
CROSSOVERS = (("T4 fp32", "T4", "fp32", 4), ("H100 SXM bf16", "H100 SXM", "bf16", 2))


def _roof(gpu, precision="fp32"):
    from gpuviz.roofline import SPECS

    return SPECS[gpu].rate(precision), SPECS[gpu].bandwidth_gbs


def _smallest_compute_bound(peak, bw, itemsize, matmul_bytes=None):
    """The smallest n whose n x n x n matmul, moving each matrix once, is compute-bound (roofline.bound)."""
    from gpuviz import roofline

    nbytes = matmul_bytes or (lambda n: roofline.matmul_bytes(n, n, n, itemsize))
    n = 1
    while roofline.bound(roofline.matmul_flops(n, n, n) / nbytes(n), peak, bw) == "memory":
        n += 1
    return n


def crossover_reference() -> dict:
    """{name: smallest compute-bound n} for each row of CROSSOVERS."""
    return {name: _smallest_compute_bound(*_roof(gpu, prec), size) for name, gpu, prec, size in CROSSOVERS}


def _crossover_mistakes():
    (t4_peak, t4_bw), (h_peak, h_bw) = _roof("T4"), _roof("H100 SXM", "bf16")
    h_fp32 = _roof("H100 SXM")[0]
    t4_fp16 = _roof("T4", "fp16")[0]
    out = []
    for name, peak, bw, size in (("T4 fp32", t4_peak, t4_bw, 4), ("H100 SXM bf16", h_peak, h_bw, 2)):
        ridge = peak / bw
        out += [
            (name, _smallest_compute_bound(peak, bw, size, lambda n: size * 2 * n * n),
             "that counts the reads of A and B but not the write of C: the compulsory traffic moves all three "
             "matrices once, 3 n^2 elements."),
            (name, math.ceil(bw / peak * 3 * size / 2) or 1,
             "that ridge point is upside down: the ridge is peak / bandwidth FLOP per byte (roofline.ridge)."),
            (name, math.ceil(ridge), "that is the ridge point itself, in FLOP per byte, not a matrix size: find "
                                     "the smallest n whose intensity, 2n^3 / (bytes moved), reaches it."),
        ]
    out += [
        ("H100 SXM bf16", _smallest_compute_bound(h_peak, h_bw, 4),
         "that counts 4 bytes per element: BF16 values are 2 bytes (matmul_bytes(n, n, n, 2))."),
        ("H100 SXM bf16", _smallest_compute_bound(h_fp32, h_bw, 2),
         "that uses the FP32 peak: BF16 runs on the Tensor Cores, SPECS['H100 SXM'].rate('bf16')."),
        ("H100 SXM bf16", _smallest_compute_bound(h_fp32, h_bw, 4),
         "that is the FP32 crossover: BF16 runs on the Tensor Cores (rate('bf16')) with 2-byte elements."),
        ("T4 fp32", _smallest_compute_bound(t4_fp16, t4_bw, 4),
         "that uses the T4's FP16 Tensor Core peak: this matmul is FP32, rate('fp32')."),
        ("T4 fp32", _smallest_compute_bound(t4_peak, t4_bw, 2),
         "that counts 2 bytes per element: FP32 values are 4 bytes."),
    ]
    return out


def _check_crossover(value):
    return predicted_numbers(value, crossover_reference(), _crossover_mistakes(), what="crossover",
                             unit="(n)", rtol=CROSSOVER_RTOL)


WORKLOADS = {"vector add": (VECTOR_N, 12 * VECTOR_N),                        # 1 FLOP, 3 x 4 bytes per element
             "matmul": (2 * MATMUL_N**3, 4 * 3 * MATMUL_N**2)}                 # moves each matrix once


def roofline_time_reference(gpu="T4") -> dict:
    """Milliseconds at best: FLOPs / the roofline's rate at the workload's intensity."""
    from gpuviz import roofline

    peak, bw = _roof(gpu)
    return {k: 1e3 * f / (roofline.attainable(f / b, peak, bw) * 1e9) for k, (f, b) in WORKLOADS.items()}


def _time_mistakes():
    peak, bw = _roof("T4")
    out = []
    for k, (f, b) in WORKLOADS.items():
        compute, memory = f / (peak * 1e9), b / (bw * 1e9)
        right = max(compute, memory)
        if compute + memory > (1 + TIME_RTOL) * right:     # else the sum is within the tolerance anyway
            out.append((k, 1e3 * (compute + memory),
                        "that adds the compute time and the memory time. A GPU overlaps the two (other warps "
                        "compute while some wait for memory), so the roofline's time is the larger one: FLOPs / "
                        "attainable rate."))
        out += [
            (k, 1e3 * min(compute, memory),
             "the wrong roof: the lower roof binds, roofline.attainable(intensity, peak, bandwidth), which is the "
             "min of the two rates, so the slower resource decides the time."),
            (k, right, "that is in seconds: the prediction is in milliseconds."),
            (k, 1e6 * right, "that is in microseconds: the prediction is in milliseconds."),
        ]
    out += [
        ("vector add", 1e3 * 8 * VECTOR_N / (bw * 1e9),
         "that moves 8 bytes per element: the vector add reads x and y and writes out, 12 bytes."),
        ("vector add", 1e3 * 4 * VECTOR_N / (bw * 1e9),
         "that moves one array: the vector add reads x and y and writes out, 12 bytes per element."),
        ("matmul", 1e3 * 2 * MATMUL_N**3 / (_roof("T4", "fp16")[0] * 1e9),
         "that uses the FP16 Tensor Core peak: this matmul is FP32, rate('fp32')."),
        ("matmul", 1e3 * 2 * MATMUL_N**3 / (0.25 * bw * 1e9),
         "that is the naive kernel's traffic (0.25 FLOP per byte): a matmul that moves each matrix once has "
         "n / 6 FLOP per byte."),
    ]
    return out


def _check_time(value):
    return predicted_numbers(value, roofline_time_reference(), _time_mistakes(), what="predicted_ms", unit="ms",
                             rtol=TIME_RTOL)


CHECKS = {
    "11-bound": (2, _check_crossover),
    "11-roofline-time": (2, _check_time),
}
