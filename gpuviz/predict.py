"""Predictions from a datasheet: what the roofline model says a GPU would take, before anyone measures.

    from gpuviz import predict
    predict.matmul_seconds(4096, "T4")         # at best 0.017 s: 2n^3 FLOP at 8.1 TFLOP/s
    predict.transfer_seconds(64 * 2**20, "T4") # at best 4.3 ms over PCIe 3.0 x16

A prediction is a bound built from two datasheet numbers, peak FLOP/s and memory bandwidth
(gpuviz.roofline.SPECS): time >= max(FLOPs / peak, bytes / bandwidth), plus a fixed cost per
launched operation where a prediction is asked for one (`overhead_s`, default `LAUNCH_OVERHEAD_S`
where it matters: small problems). Real kernels take longer;
how much longer is the lesson a measurement teaches. Draw predictions with
`series.predicted(...)`, never as measurements. Used in notebooks 00, 02, 04, 05, 08, 09, 11.
"""
from __future__ import annotations

import numpy as np

from gpuviz.roofline import SPECS, attainable, matmul_bytes, matmul_flops

# Host link per direction, from the PCIe generation each datasheet gives (x16 lanes):
# lanes x transfer rate x 128/130 (encoding) / 8 bits. Gen3 8, Gen4 16, Gen5 32 GT/s.
_PCIE_GBS = {3: 16 * 8 * 128 / 130 / 8, 4: 16 * 16 * 128 / 130 / 8, 5: 16 * 32 * 128 / 130 / 8}
# What one GPU operation costs before any work, when the host launches it and waits for it (a kernel
# launch, or a copy, followed by a synchronize): the time a tiny problem takes however fast the GPU.
# No datasheet gives it. 10 µs is an ASSUMPTION, of the order of published measurements: an empty
# numba-cuda kernel took 6.6 µs to launch with no arguments and 14.1 µs with two array arguments
# (G. Markall, NVIDIA/numba-cuda pull request #288, June 2025, host side only, no synchronize), and a
# CUDA C launch costs about 3 µs (NVIDIA developer forums). On a GPU, use what this machine measures
# instead: `gv.timing.launch_overhead()["torch"].median` (or ["numba"]); see `launch_overhead_s`.
LAUNCH_OVERHEAD_S = 10e-6

PCIE_GEN = {"T4": 3, "L4": 4, "A10": 4, "V100 SXM2": 3, "A100 40GB": 4, "A100 80GB": 4, "H100 SXM": 5,
            "H100 PCIe": 5, "H200": 5, "RTX 3090": 4, "RTX 4090": 4, "MI100": 4}


def _spec(gpu: str):
    if gpu not in SPECS:
        raise KeyError(f"no datasheet for {gpu!r}; gpuviz.roofline.SPECS has {', '.join(SPECS)}")
    return SPECS[gpu]


def peak_gflops(gpu: str, precision: str = "fp32") -> float:
    rate = _spec(gpu).rate(precision)
    if rate is None:
        raise ValueError(f"the {SPECS[gpu].name} datasheet gives no {precision} rate")
    return rate


def seconds(flops, nbytes, gpu: str, precision: str = "fp32", overhead_s: float = 0.0):
    """Roofline time: the larger of compute time and memory time, plus a fixed overhead (a launch).
    Arrays broadcast."""
    s = _spec(gpu)
    return overhead_s + np.maximum(np.asarray(flops) / (peak_gflops(gpu, precision) * 1e9),
                                   np.asarray(nbytes) / (s.bandwidth_gbs * 1e9))


def matmul_seconds(n, gpu: str, precision: str = "fp32", itemsize: int = 4, overhead_s: float = 0.0):
    """Predicted time of an n x n x n matrix multiply that reads its inputs once (the compulsory traffic)."""
    n = np.asarray(n, dtype=float)
    return seconds(matmul_flops(n, n, n), matmul_bytes(n, n, n, itemsize), gpu, precision, overhead_s)


def gflops(intensity, gpu: str, precision: str = "fp32") -> float:
    """The roof at this arithmetic intensity (FLOP per byte of global memory traffic)."""
    return attainable(intensity, peak_gflops(gpu, precision), _spec(gpu).bandwidth_gbs)


def pcie_gbs(gpu: str) -> float:
    """Host link bandwidth per direction, GB/s, from the datasheet's PCIe generation (x16)."""
    return _PCIE_GBS[PCIE_GEN[gpu]]


def transfer_seconds(nbytes, gpu: str, overhead_s: float = 0.0):
    """Predicted host-to-device (or back) copy time over the GPU's PCIe link, at best, plus a fixed
    `overhead_s` per copy (a launch and synchronize, `LAUNCH_OVERHEAD_S`, say)."""
    return overhead_s + np.asarray(nbytes) / (pcie_gbs(gpu) * 1e9)


def launch_overhead_s(measured=None) -> tuple[float, str]:
    """The fixed cost per GPU operation to add to a prediction, and where it comes from: a measured
    one (a gpuviz.timing.Timing, e.g. `gv.timing.launch_overhead()["torch"]` on a GPU) when it is
    meaningful, else the assumption `LAUNCH_OVERHEAD_S`. Returns (seconds, "measured here" or
    "assumed")."""
    if measured is not None and getattr(measured, "meaningful", False):
        return float(measured.median), "measured here"
    return LAUNCH_OVERHEAD_S, "assumed"


def energy_joules(seconds_, gpu: str):
    """Energy if the board drew its full rated power (TDP) for the whole time: an upper bound."""
    tdp = _spec(gpu).tdp_w
    if tdp is None:
        raise ValueError(f"the {SPECS[gpu].name} datasheet gives no board power")
    return np.asarray(seconds_) * tdp



def traced_intensity(trace, flops: float) -> float:
    """FLOP per byte global memory moves for a traced launch: each warp request costs every 32-byte
    sector it touches, so an uncoalesced load lowers the intensity and a broadcast raises it. Caches
    are ignored. A traced small problem stands for larger ones when the access pattern repeats."""
    from gpuviz.launch import SECTOR_BYTES

    moved = sum(row["requests"] * row["sectors_per_request"] * SECTOR_BYTES
                for row in trace.metrics.values() if row["space"] == "global")
    return flops / moved


def coalescing(trace) -> float:
    """Share of the 32-byte sectors a traced launch moves in global memory that it needs: 1.0 when
    every warp request is as compact as it can be, 0.125 for a column walk of floats."""
    ideal = moved = 0.0
    for row in trace.metrics.values():
        if row["space"] == "global":
            sectors = row["requests"] * row["sectors_per_request"]
            moved += sectors
            ideal += row["efficiency"] * sectors
    return ideal / moved


def rung_intensity(rung, n: int, efficiency: float = 1.0) -> float:
    """FLOP per byte moved for a kernel of the matmul ladder at size n: the bytes its threads request
    (its reuse, `Rung.requested_bytes`) divided by its coalescing efficiency (`coalescing(trace)`)."""
    return matmul_flops(n, n, n) / (rung.requested_bytes(n, n, n) / efficiency)
