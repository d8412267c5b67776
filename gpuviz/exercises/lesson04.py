"""Exercises of notebook 04, matrix multiply I: the coalesced naive kernel, the naive kernel's
arithmetic intensity, and a prediction with the roofline (the best GFLOP/s of the naive kernel and of
cuBLAS on a T4), which the notebook then sets beside measured or recorded rates.

The kernel runs under the tracer on a square and a ragged problem; the tracer's coalescing metrics
catch a kernel that is right but maps x to rows, and the source is read for a float64 accumulator.
"""
from __future__ import annotations

import math

import numpy as np

from gpuviz.exercises.check import FunctionExercise, float64_message
from gpuviz.exercises.lesson01 import first_problem, mismatch, run_traced

SEED = 404
NAIVE_BLOCK = (32, 8)


def naive_grid(M, N, block=NAIVE_BLOCK):
    """x along the columns of C, y along its rows."""
    return (math.ceil(N / block[0]), math.ceil(M / block[1]))


def coalescing_message(t, arrays=("A", "B", "C")) -> str | None:
    worst = min(((t.metrics.get(a, {}).get("efficiency", 1.0), a) for a in arrays))
    if worst[0] >= 0.5:
        return None
    m = t.metrics[worst[1]]
    return (f"the values are right, but the kernel is uncoalesced: each warp request to {worst[1]} touched "
            f"{m['sectors_per_request']:.0f} sectors (coalescing {m['efficiency']:.0%}). Neighbouring threads "
            "(x) walk down a column. cuda.grid(2) returns (x, y) and x must index the column: "
            "`col, row = cuda.grid(2)`.")


def coalesced(kernel, block=NAIVE_BLOCK):
    rng = np.random.default_rng(SEED)
    for M, K, N in ((32, 32, 32), (20, 37, 45)):        # square first (coalescing), then ragged (guards)
        A = rng.standard_normal((M, K)).astype(np.float32)
        B = rng.standard_normal((K, N)).astype(np.float32)
        C = np.full((M, N), np.nan, np.float32)
        grid = naive_grid(M, N, block)
        where = f"C = A @ B with A {M}x{K}, B {K}x{N}, launched [{grid}, {block}]"
        t, err = run_traced(kernel, grid, block, A, B, C)
        if err:
            return False, err
        p = first_problem(t)
        if p is not None:
            hint = (" Guard with `if row < C.shape[0] and col < C.shape[1]:`; the grid has more threads than C has "
                    "elements. And x is the column: `col, row = cuda.grid(2)`." if p.kind == "out_of_bounds" else "")
            return False, f"{where}: {p.message}{hint}"
        want = A.astype(np.float64) @ B.astype(np.float64)
        if np.isnan(C).any():
            return False, (f"{where}: {int(np.isnan(C).sum())} of {C.size} elements of C were never written. "
                           "cuda.grid(2) returns (x, y) = (column, row): `col, row = cuda.grid(2)`.")
        if not np.allclose(C, want, rtol=1e-4, atol=1e-4):
            if np.allclose(C, (A.astype(np.float64) @ B.astype(np.float64)).T.reshape(C.shape), rtol=1e-4) \
                    and M == N:
                return False, f"{where}: C holds the transpose of A @ B: write C[row, col]."
            return False, f"{where}: " + mismatch(C, want.astype(np.float32), "C", rtol=1e-4, atol=1e-4)
        why = coalescing_message(t)
        if why:
            return False, f"{where}: {why}"
    why = float64_message(kernel)
    if why:
        return False, why
    return True, ""


def _naive_intensity(n):
    return 2 * n**3 / (4 * (2 * n**3 + n**2))


def _cases_n(rng):
    return [(1,), (2,), (64,), (1000,), (4096,)] + [(int(n),) for n in rng.integers(3, 5000, 3)]


naive_intensity = FunctionExercise(
    "naive_intensity", _naive_intensity, _cases_n, mistakes=[
        (lambda n: n / 6, "n / 6 is the intensity of the compulsory traffic (A, B and C moved once each); the naive "
                          "kernel reads a whole row of A and a whole column of B for EVERY element of C."),
        (lambda n: 2 * n**3 / (4 * 2 * n**3), "that leaves out the write of C: n*n more floats."),
        (lambda n: 2 * n**3 / (8 * (2 * n**3 + n**2)), "that is half the answer: it counts 8-byte elements (A, B "
                                                      "and C are float32, 4 bytes), or one FLOP per step of the sum "
                                                      "(a multiply and an add are two FLOPs)."),
        (lambda n: 4 * (2 * n**3 + n**2) / (2 * n**3), "that is bytes per FLOP, upside down."),
    ])


# ---- 04-attainable: predict with the roofline, then measure (notebook 04, section 5)

def predicted_numbers(value, model: dict, mistakes, *, what: str, unit: str, rtol: float):
    """A prediction, {name: number}, against the model's {name: number}: each within `rtol` (relative) of
    the model's value passes. For the first number that is off, a known wrong value (`mistakes`: (name,
    wrong number, why), matched within the same tolerance) names the mistake. Used by 04, 10 and 11."""
    keys = list(model)
    single = len(keys) == 1 and not isinstance(value, dict)      # one number: `what` itself, not a dict
    if single:
        value = {keys[0]: value}
    if value is None or isinstance(value, dict) and all(v is None for v in value.values()):
        return False, f"not done yet: replace each None in `{what}` with your prediction, then run this cell again."
    if not isinstance(value, dict) or set(value) != set(keys):
        got = sorted(value) if isinstance(value, dict) else type(value).__name__
        return False, f"`{what}` should be a dict with the keys {keys} (got {got})."
    for k in keys:
        v = value[k]
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            return False, f"`{what if single else f'{what}[{k!r}]'}` should be a number in {unit}, got {v!r}."

    def close(v, w):
        return math.isfinite(float(v)) and abs(float(v) - w) <= rtol * abs(w)

    def fmt(v):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"

    for k in keys:
        v = float(value[k])
        if close(v, model[k]):
            continue
        shown = f"{what if single else f'{what}[{k!r}]'} = {fmt(v)} {unit}"
        for name, wrong, why in mistakes:
            if name == k and close(v, wrong):
                return False, f"{shown}: {why}"
        return False, (f"{shown} is not within {rtol:.0%} of the model's value. Work it out again step by step "
                       "from the text above, minding the units.")
    return True, "within {:.0%} of the model: {}".format(
        rtol, ", ".join(f"{'' if single else k + ' '}{fmt(model[k])} {unit}" for k in keys))


ROOF_N = 2048                  # the largest size notebook 04 times on a GPU
ROOF_GPU = "T4"                # Colab's GPU: 8.1 TFLOP/s FP32, 320 GB/s on its datasheet
ATTAINABLE_RTOL = 0.02


def attainable_reference(n=ROOF_N, gpu=ROOF_GPU) -> dict:
    """The roofline's best GFLOP/s at n: the coalesced naive kernel at the intensity of the traffic its
    threads request (exercise 2), cuBLAS at the compulsory intensity n / 6."""
    from gpuviz import roofline

    s = roofline.SPECS[gpu]
    peak, bw = s.fp32_tflops * 1e3, s.bandwidth_gbs
    return {"naive": roofline.attainable(_naive_intensity(n), peak, bw),
            "cuBLAS": roofline.attainable(n / 6, peak, bw)}


def _attainable_mistakes(n=ROOF_N, gpu=ROOF_GPU):
    from gpuviz import roofline

    s = roofline.SPECS[gpu]
    peak, bw = s.fp32_tflops * 1e3, s.bandwidth_gbs
    naive, comp = _naive_intensity(n), n / 6
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


def attainable(value):
    return predicted_numbers(value, attainable_reference(), _attainable_mistakes(), what="predicted",
                             unit="GFLOP/s", rtol=ATTAINABLE_RTOL)


CHECKS = {
    "04-coalesced": (2, coalesced),
    "04-intensity": (1, naive_intensity),
    "04-attainable": (2, attainable),
}
