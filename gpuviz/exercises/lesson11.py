"""Exercises of notebook 11, choosing a GPU: classify a workload as memory- or compute-bound on a GPU,
and the roofline's lower bound on its time."""
from __future__ import annotations

from gpuviz.exercises.check import FunctionExercise

SEED = 11

# (flops, nbytes, peak GFLOP/s, bandwidth GB/s): T4 and H100 figures, course workloads, both sides of
# the ridge, and a workload exactly at the ridge (the roofline counts it as compute-bound)
_FIXED = [
    (1e6, 12e6, 8100, 320),                 # vector add on a T4: memory
    (2 * 4096**3, 12 * 4096**2, 8100, 320),  # big matmul on a T4: compute
    (2 * 4096**3, 12 * 4096**2, 989500, 3350),   # the same, BF16 Tensor Cores of an H100: compute
    (2 * 512**3, 4 * (2 * 512**3 + 512**2), 67000, 3350),   # naive matmul on an H100: memory
    (8100 * 10, 320 * 10, 8100, 320),       # exactly at the ridge: compute
    (30.0, 1.0, 8100, 320),                 # intensity 30 > ridge 25.3 on a T4: compute
    (30.0, 1.0, 67000, 3350),               # the same intensity on an H100, FP32 (ridge 20): compute
    (30.0, 1.0, 989500, 3350),              # ... and memory-bound against BF16 Tensor Cores (ridge 295)
    (1e13, 1e9, 8100, 320),                 # intensity 10^4, above even the peak's number: compute
    (1.0, 100.0, 8100, 320),                # intensity 0.01 (100 bytes per FLOP): memory
    (3.0, 100.0, 8100, 320),                # intensity 0.03: memory (tells unit slips from inverted ridges)
]


def _bound_cases(rng):
    cases = list(_FIXED)
    for _ in range(12):
        peak = float(rng.choice([8100, 19500, 30300, 67000, 156000, 312000, 989500]))
        bw = float(rng.choice([300, 320, 600, 936, 1555, 2039, 3350, 4800]))
        ridge = peak / bw
        i = ridge * float(rng.choice([0.05, 0.3, 0.8, 1.25, 3.0, 20.0]))
        nbytes = float(rng.integers(10**3, 10**10))
        cases.append((i * nbytes, nbytes, peak, bw))
    return cases


def bound(flops, nbytes, peak_gflops, bandwidth_gbs):
    return "memory" if flops / nbytes < peak_gflops / bandwidth_gbs else "compute"


BOUND = FunctionExercise(
    "bound", bound, _bound_cases, seed=SEED, mistakes=[
        (lambda f, b, p, w: "compute" if f / b < p / w else "memory",
         "The labels are swapped: a low intensity (few FLOPs per byte) leaves the arithmetic units waiting for "
         "memory, so it is memory-bound."),
        (lambda f, b, p, w: "memory" if b / f < p / w else "compute",
         "That divides bytes by FLOPs. Arithmetic intensity is FLOPs per byte: flops / nbytes."),
        (lambda f, b, p, w: "memory" if f / b < w / p else "compute",
         ("That ridge point is upside down. The ridge is where intensity × bandwidth reaches the peak: "
          "peak_gflops / bandwidth_gbs FLOP per byte.")),
        (lambda f, b, p, w: "memory" if f / b < p else "compute",
         ("That compares the intensity (FLOP/byte) with the peak rate (GFLOP/s): different units. Compare it "
          "with the ridge point, peak_gflops / bandwidth_gbs.")),
        (lambda f, b, p, w: "memory" if f / b <= p / w else "compute",
         ("Exactly at the ridge point both roofs meet and the workload can reach the peak rate: the roofline "
          "counts it as compute-bound (use <, not <=).")),
        (lambda f, b, p, w: "memory" if f / b < p / w / 1000 else "compute",
         ("A units slip: peak_gflops and bandwidth_gbs are both per 10^9, so their ratio is already FLOP per "
          "byte; no factor of 1000.")),
    ])


def _time_cases(rng):
    cases = [(f, b, p, w) for f, b, p, w in _FIXED]
    cases += [(0.0, 1e6, 8100, 320), (1e12, 0.0, 8100, 320)]
    for _ in range(10):
        cases.append((float(rng.integers(10**6, 10**14)), float(rng.integers(10**4, 10**11)),
                      float(rng.choice([8100, 67000, 312000, 989500])), float(rng.choice([320, 936, 2039, 3350]))))
    return cases


def roofline_time(flops, nbytes, peak_gflops, bandwidth_gbs):
    return max(flops / (peak_gflops * 1e9), nbytes / (bandwidth_gbs * 1e9))


TIME = FunctionExercise(
    "roofline_time", roofline_time, _time_cases, seed=SEED + 1, mistakes=[
        (lambda f, b, p, w: f / (p * 1e9) + b / (w * 1e9),
         ("That adds the compute time and the memory time. A GPU overlaps the two (other warps compute while "
          "some wait for memory), so the bound is the larger of the two: max(...).")),
        (lambda f, b, p, w: min(f / (p * 1e9), b / (w * 1e9)),
         "The slower resource decides: take the larger of the two times (max), not the smaller."),
        (lambda f, b, p, w: max(f / p, b / w),
         ("Units: peak_gflops is in 10^9 FLOP/s and bandwidth_gbs in 10^9 bytes/s. Multiply both by 1e9 to "
          "get seconds.")),
        (lambda f, b, p, w: max(f / (p * 1e12), b / (w * 1e9)),
         "peak_gflops is in GFLOP/s (10^9), not TFLOP/s (10^12)."),
        (lambda f, b, p, w: f / (p * 1e9),
         "That is only the compute time: a memory-bound workload takes nbytes / bandwidth, which is longer."),
        (lambda f, b, p, w: b / (w * 1e9),
         "That is only the memory time: a compute-bound workload takes flops / peak, which is longer."),
    ])

CHECKS = {
    "11-bound": (2, BOUND),
    "11-roofline-time": (2, TIME),
}
