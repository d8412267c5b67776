"""GPU specifications (dense peak rates, from datasheets), roofline math and roofline figures.

Every row of `SPECS` cites its source. All rates are dense: datasheets print Tensor Core rates "with
sparsity" (2:4 structured sparsity), twice the dense rate; those are halved here, and the citation
says so. A rate the datasheet does not give is None, never a guess.

Roofline model (Williams, Waterman, Patterson 2009): a kernel that does F FLOPs while moving Q bytes
has arithmetic intensity I = F / Q and can at best reach min(peak FLOP/s, I * bandwidth). The ridge
point peak / bandwidth separates memory-bound kernels (left) from compute-bound ones (right).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

# The two GPUs notebooks 00 and 02 compare against: Colab's T4 and a current data-centre GPU.
COURSE_GPUS = ("T4", "H100 SXM")


@dataclass(frozen=True)
class Spec:
    """Peak rates in TFLOP/s (dense), bandwidth in GB/s (10^9 bytes/s), memory as on the datasheet
    (GPU memory "GB" are binary: 16 GB = 16 GiB). Tensor rates are with FP32 accumulation where the
    datasheet distinguishes. fp64_tflops is the non-tensor FP64 rate. sm_count: streaming
    multiprocessors (compute units on AMD)."""
    name: str
    fp32_tflops: float
    bandwidth_gbs: float
    memory_gib: float
    source: str
    tf32_tflops: float | None = None
    fp16_tflops: float | None = None
    bf16_tflops: float | None = None
    fp64_tflops: float | None = None
    sm_count: int | None = None
    tdp_w: float | None = None
    vendor: str = "NVIDIA"
    fp32_lanes_per_sm: int | None = None    # FP32 lanes ("CUDA cores", AMD "stream processors") per SM / CU
    boost_mhz: float | None = None          # the boost clock the datasheet's FP32 rate is computed at

    @property
    def cuda_cores(self) -> int | None:
        """FP32 lanes on the whole chip: SMs x lanes per SM (what NVIDIA calls "CUDA cores")."""
        return None if self.sm_count is None or self.fp32_lanes_per_sm is None else self.sm_count * self.fp32_lanes_per_sm

    @property
    def fp32_tflops_from_cores(self) -> float | None:
        """The FP32 rate the lanes give: each does one fused multiply-add (2 FLOPs) per clock at the boost clock."""
        if self.cuda_cores is None or self.boost_mhz is None:
            return None
        return self.cuda_cores * 2 * self.boost_mhz * 1e6 / 1e12

    @property
    def ridge(self) -> float:
        """FP32 ridge point: FLOP per byte above which a kernel can be compute-bound."""
        return ridge(self.fp32_tflops * 1e3, self.bandwidth_gbs)

    def rate(self, precision: str = "fp32") -> float | None:
        """Peak rate in GFLOP/s for 'fp32', 'tf32', 'fp16', 'bf16' or 'fp64' (None if not given)."""
        v = getattr(self, f"{precision}_tflops")
        return None if v is None else v * 1e3


_SPARSE = "Tensor Core rates halved from the datasheet's 'with sparsity' figures"

SPECS = {
    "T4": Spec("NVIDIA T4", 8.1, 320, 16, "NVIDIA T4 Tensor Core GPU datasheet (FP16 mixed-precision 65 TFLOPS, "
               "no sparsity on Turing; no TF32/BF16 on Turing; FP64 not on the datasheet)",
               fp16_tflops=65, sm_count=40, tdp_w=70),
    "L4": Spec("NVIDIA L4", 30.3, 300, 24, f"NVIDIA L4 Tensor Core GPU datasheet; {_SPARSE} (TF32 120, "
               "FP16/BF16 242); FP64 not on the datasheet",
               tf32_tflops=60, fp16_tflops=121, bf16_tflops=121, sm_count=58, tdp_w=72),
    "A10": Spec("NVIDIA A10", 31.2, 600, 24, "NVIDIA A10 Tensor Core GPU datasheet (dense | sparse columns: "
                "TF32 62.5 | 125, BF16/FP16 125 | 250); FP64 not on the datasheet",
                tf32_tflops=62.5, fp16_tflops=125, bf16_tflops=125, sm_count=72, tdp_w=150),
    "V100 SXM2": Spec("NVIDIA V100 SXM2 32GB", 15.7, 900, 32, "NVIDIA Tesla V100 GPU datasheet, SXM2 column "
                      "(Tensor 125 TFLOPS FP16; no TF32/BF16 on Volta)",
                      fp16_tflops=125, fp64_tflops=7.8, sm_count=80, tdp_w=300),
    "A100 40GB": Spec("NVIDIA A100 SXM4 40GB", 19.5, 1555, 40, f"NVIDIA A100 Tensor Core GPU datasheet, 40GB SXM "
                      f"column; {_SPARSE} (TF32 312, BF16/FP16 624); FP64 9.7 (19.5 on Tensor Cores)",
                      tf32_tflops=156, fp16_tflops=312, bf16_tflops=312, fp64_tflops=9.7, sm_count=108,
                      tdp_w=400),
    "A100 80GB": Spec("NVIDIA A100 SXM4 80GB", 19.5, 2039, 80, f"NVIDIA A100 Tensor Core GPU datasheet, 80GB SXM "
                      f"column; {_SPARSE} (TF32 312, BF16/FP16 624); FP64 9.7 (19.5 on Tensor Cores)",
                      tf32_tflops=156, fp16_tflops=312, bf16_tflops=312, fp64_tflops=9.7, sm_count=108,
                      tdp_w=400),
    "H100 SXM": Spec("NVIDIA H100 SXM", 67, 3350, 80, f"NVIDIA H100 Tensor Core GPU datasheet, SXM column; "
                     f"{_SPARSE} (TF32 989, BF16/FP16 1,979); FP64 34 (67 on Tensor Cores)",
                     tf32_tflops=494.5, fp16_tflops=989.5, bf16_tflops=989.5, fp64_tflops=34, sm_count=132,
                     tdp_w=700),
    "H100 PCIe": Spec("NVIDIA H100 PCIe", 51, 2000, 80, f"NVIDIA H100 Tensor Core GPU datasheet, PCIe column; "
                      f"{_SPARSE} (TF32 756, BF16/FP16 1,513); FP64 26; TDP 300-350 W (configurable)",
                      tf32_tflops=378, fp16_tflops=756.5, bf16_tflops=756.5, fp64_tflops=26, sm_count=114,
                      tdp_w=350),
    "H200": Spec("NVIDIA H200 SXM", 67, 4800, 141, f"NVIDIA H200 Tensor Core GPU datasheet, SXM column; {_SPARSE} "
                 f"(TF32 989, BF16/FP16 1,979); FP64 34",
                 tf32_tflops=494.5, fp16_tflops=989.5, bf16_tflops=989.5, fp64_tflops=34, sm_count=132,
                 tdp_w=700),
    "RTX 3090": Spec("NVIDIA GeForce RTX 3090", 35.6, 936, 24, "NVIDIA Ampere GA102 GPU architecture whitepaper, "
                     "appendix table (dense, FP32 accumulation: FP16/BF16 71, TF32 35.6; FP64 0.556)",
                     tf32_tflops=35.6, fp16_tflops=71, bf16_tflops=71, fp64_tflops=0.556, sm_count=82,
                     tdp_w=350),
    "RTX 4090": Spec("NVIDIA GeForce RTX 4090", 82.6, 1008, 24, "NVIDIA Ada Lovelace GPU architecture whitepaper, "
                     "appendix table (dense, FP32 accumulation: FP16/BF16 165.2, TF32 82.6); FP64 not listed",
                     tf32_tflops=82.6, fp16_tflops=165.2, bf16_tflops=165.2, sm_count=128, tdp_w=450),
    "MI100": Spec("AMD Instinct MI100", 23.1, 1228.8, 32, "AMD Instinct MI100 accelerator datasheet (FP32 vector "
                  "23.1, FP32 matrix 46.1, FP16 matrix 184.6, bfloat16 92.3, FP64 11.5; no TF32; 120 compute "
                  "units; 1.23 TB/s)",
                  fp16_tflops=184.6, bf16_tflops=92.3, fp64_tflops=11.5, sm_count=120, tdp_w=300,
                  vendor="AMD"),
}


# FP32 lanes per SM and boost clock: (lanes, MHz, source). The datasheets above give rates, not cores;
# these come from the architecture whitepapers and product briefs, and test_roofline.py checks that
# SMs x lanes x 2 FLOP x clock gives each row's FP32 rate within a few per cent.
_LANES = {
    "T4": (64, 1590, "NVIDIA Turing architecture whitepaper (Turing SM: 64 FP32 cores); T4 product brief: 2,560 "
                     "CUDA cores, 1,590 MHz boost"),
    "L4": (128, 2040, "NVIDIA Ada architecture whitepaper (Ada SM: 128 FP32 cores); L4 product brief: 7,424 CUDA "
                      "cores, 2,040 MHz boost"),
    "A10": (128, 1695, "NVIDIA Ampere GA102 whitepaper (GA10x SM: 128 FP32 cores); A10 product brief: 9,216 CUDA "
                       "cores, 1,695 MHz boost"),
    "V100 SXM2": (64, 1530, "NVIDIA Tesla V100 (Volta) whitepaper, table 1: 80 SMs, 64 FP32 cores per SM, "
                            "1,530 MHz boost"),
    "A100 40GB": (64, 1410, "NVIDIA A100 (Ampere GA100) whitepaper, table: 108 SMs, 64 FP32 cores per SM, "
                            "1,410 MHz boost"),
    "A100 80GB": (64, 1410, "NVIDIA A100 (Ampere GA100) whitepaper, table: 108 SMs, 64 FP32 cores per SM, "
                            "1,410 MHz boost"),
    "H100 SXM": (128, 1980, "NVIDIA H100 (Hopper) whitepaper: 128 FP32 cores per SM, 16,896 on the SXM5; "
                            "1,980 MHz max boost (H100 SXM5 product brief)"),
    "H100 PCIe": (128, 1755, "NVIDIA H100 (Hopper) whitepaper: 128 FP32 cores per SM, 14,592 on the PCIe card; "
                             "1,755 MHz max boost (H100 PCIe product brief)"),
    "H200": (128, 1980, "NVIDIA H200: the H100 SXM's GH100 chip (132 SMs, 128 FP32 cores per SM), "
                        "1,980 MHz max boost"),
    "RTX 3090": (128, 1695, "NVIDIA Ampere GA102 whitepaper, appendix: 10,496 CUDA cores, 1,695 MHz boost"),
    "RTX 4090": (128, 2520, "NVIDIA Ada architecture whitepaper, appendix: 16,384 CUDA cores, 2,520 MHz boost"),
    "MI100": (64, 1502, "AMD Instinct MI100 datasheet: 120 compute units, 7,680 stream processors, "
                        "1,502 MHz peak engine clock"),
}
LANE_SOURCES = {k: src for k, (_, _, src) in _LANES.items()}
SPECS = {k: replace(s, fp32_lanes_per_sm=_LANES[k][0], boost_mhz=_LANES[k][1]) if k in _LANES else s
         for k, s in SPECS.items()}


def cores_table(keys=None) -> str:
    """SMs x FP32 lanes per SM = "CUDA cores", and the FP32 rate they give at the boost clock, beside the
    datasheet's rate, as aligned text."""
    head = (f"{'GPU':<24}{'SMs':>5}{'lanes/SM':>9}{'cores':>8}{'boost MHz':>10}{'cores x 2 x clock':>19}"
            f"{'datasheet':>11}")
    lines = [head, "-" * len(head)]
    for k in keys or [k for k, s in SPECS.items() if s.fp32_tflops_from_cores]:
        s = SPECS[k]
        lines.append(f"{s.name:<24}{s.sm_count:>5}{s.fp32_lanes_per_sm:>9}{s.cuda_cores:>8,}{s.boost_mhz:>10,.0f}"
                     f"{s.fp32_tflops_from_cores:>13.1f} TF/s{s.fp32_tflops:>6.1f} TF/s")
    lines.append("cores = SMs x FP32 lanes per SM; each lane does one fused multiply-add (2 FLOP) per clock")
    return "\n".join(lines)


# ---- roofline math -------------------------------------------------------------------------------

def intensity(flops: float, nbytes: float) -> float:
    """Arithmetic intensity, FLOP per byte."""
    return flops / nbytes


def ridge(peak_gflops: float, bandwidth_gbs: float) -> float:
    """The intensity (FLOP/byte) where the memory roof meets the compute roof."""
    return peak_gflops / bandwidth_gbs


def attainable(intensity_: float, peak_gflops: float, bandwidth_gbs: float) -> float:
    """The roofline: the best GFLOP/s a kernel of this intensity can reach."""
    return min(peak_gflops, intensity_ * bandwidth_gbs)


def bound(intensity_: float, peak_gflops: float, bandwidth_gbs: float) -> str:
    """'memory' left of the ridge point, 'compute' at or right of it."""
    return "memory" if intensity_ < ridge(peak_gflops, bandwidth_gbs) else "compute"


def matmul_flops(m: int, n: int, k: int) -> int:
    return 2 * m * n * k


def matmul_bytes(m: int, n: int, k: int, itemsize: int = 4) -> int:
    """Compulsory traffic: read A and B once, write C once."""
    return itemsize * (m * k + k * n + m * n)


@dataclass(frozen=True)
class Point:
    """A measured kernel on the roofline: GFLOP/s reached at this intensity (FLOP/byte)."""
    label: str
    intensity: float
    gflops: float
    kind: str = "measured"      # "measured", "reference" (recorded elsewhere) or "library"


# ---- the figure ------------------------------------------------------------------------------------

def plot_roofline(points=(), *, peak_gflops: float, bandwidth_gbs: float, name: str = "",
                  extra_roofs: dict | None = None, marks: dict | None = None, title: str | None = None,
                  xlim=None, ylim=None, datasheet: "str | Spec | None" = None, doc: dict | None = None):
    """A roofline (log-log): the memory slope, the FP32 compute roof, optional extra roofs
    ({label: GFLOP/s}, e.g. TF32 Tensor Cores), and kernels as points with their % of the roof.
    marks: {label: intensity} drawn as thin vertical lines (where a kernel sits, before it is measured).

    Every legend entry says where its numbers come from (gpuviz.series): the roof is predicted from
    `datasheet` (a SPECS key or a Spec) when given, else measured here; the points are recorded in the
    reference `doc` when given, else measured here.

    points: Point objects or (label, intensity, gflops) tuples. Returns a matplotlib Figure.
    """
    import numpy as np
    from matplotlib.figure import Figure

    from gpuviz import series

    spec = SPECS[datasheet] if isinstance(datasheet, str) else datasheet
    pts = [p if isinstance(p, Point) else Point(*p) for p in points]
    fig = Figure(figsize=(8.2, 5.0), layout="constrained")
    ax = fig.add_subplot()
    roofs = {"FP32": peak_gflops} | dict(extra_roofs or {})
    top = max(roofs.values())
    lo_i = min([0.05] + [p.intensity / 3 for p in pts])
    hi_i = max([ridge(top, bandwidth_gbs) * 4, 100] + [p.intensity * 3 for p in pts]
               + [x * 3 for x in (marks or {}).values()])
    xs = np.logspace(math.log10(lo_i), math.log10(hi_i), 300)
    roof_name = f"roofline, {bandwidth_gbs:,.0f} GB/s and {peak_gflops / 1e3:,.1f} TFLOP/s FP32"
    ys = np.minimum(xs * bandwidth_gbs, peak_gflops)
    roof = (series.Series(roof_name, tuple(xs), tuple(ys), "predicted", spec.name) if spec is not None
            else series.measured(roof_name, xs, ys))
    series.draw_lines(ax, [roof], styles=[dict(color="k", lw=2.2, ls="-", marker="")])
    for i, (label, g) in enumerate(r for r in roofs.items() if r[0] != "FP32"):
        ax.plot(xs, np.minimum(xs * bandwidth_gbs, g), color="0.45", lw=1.2, ls="--")
        ax.text(hi_i, g, f"{label} {g / 1e3:,.0f} TFLOP/s ", ha="right", va="bottom", fontsize=8, color="0.35")
    r = ridge(peak_gflops, bandwidth_gbs)
    ax.axvline(r, color="0.6", lw=0.8, ls=":")
    ax.text(r, peak_gflops * 1.08, f" ridge {r:.1f} FLOP/B", fontsize=8, color="0.35", va="bottom")
    ax.text(lo_i * 1.3, lo_i * 1.3 * bandwidth_gbs / 3, "memory-bound", rotation=0, fontsize=9, color="0.35")
    ax.text(r * 1.5, peak_gflops * 0.4, "compute-bound", fontsize=9, color="0.35")
    for j, (label, x) in enumerate((marks or {}).items()):
        ax.axvline(x, color=f"C{j + len(pts)}", lw=1.4, ls="-.")
        ax.text(x * 1.08, attainable(x, peak_gflops, bandwidth_gbs) * 1.25, f"{label}\n{x:.3g} FLOP/B: at most "
                f"{attainable(x, peak_gflops, bandwidth_gbs):,.0f} GFLOP/s", fontsize=8, color=f"C{j + len(pts)}")
    markers = {"measured": "o", "reference": "s", "library": "*"}
    for i, p in enumerate(pts):
        share = p.gflops / attainable(p.intensity, peak_gflops, bandwidth_gbs)
        s = series.measured_or_recorded(f"{p.label}, {p.gflops:,.0f} GFLOP/s at {p.intensity:.3g} FLOP/B "
                                        f"({share:.0%} of roof)", [p.intensity], [p.gflops], doc)
        series.draw_lines(ax, [s], styles=[dict(marker=markers.get(p.kind, "o"), ls="", mec="k", mew=0.6,
                                                ms=12 if p.kind == "library" else 8, color=f"C{i % 10}")])
    ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (FLOP per byte of global memory traffic)",
           ylabel="GFLOP/s")
    ax.set_xlim(xlim or (lo_i, hi_i))
    ymin = min([peak_gflops / 1e3] + [p.gflops / 3 for p in pts])
    ax.set_ylim(ylim or (ymin, top * 2.5))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left", framealpha=0.9)
    ax.set_title(title or f"Roofline{' of ' + name if name else ''}", fontsize=11)
    return fig


def plot_peaks(devices, title: str = ""):
    """Two panels of bars: FP32 rate (TFLOP/s) and memory bandwidth (GB/s), log scale, one bar per
    device in each, labelled with where its numbers come from.

    devices: gpuviz.series.Series with two values each, (FP32 TFLOP/s, GB/s): `series.measured(...)`
    for this machine, `series.predicted(...)` for a datasheet's peaks, `series.recorded(...)` for a
    reference. Returns a matplotlib Figure.
    """
    from matplotlib.figure import Figure

    from gpuviz import series

    devices = list(devices)
    for d in devices:
        if len(d.y) != 2:
            raise ValueError(f"{d.name!r}: plot_peaks needs two values, FP32 TFLOP/s and GB/s, not {len(d.y)}")
    fig = Figure(figsize=(8.0, max(3.4, 1.5 + 0.5 * len(devices))), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, col, unit in ((axes[0], 0, "FP32 TFLOP/s"), (axes[1], 1, "memory bandwidth (GB/s)")):
        bars = [series.Series(d.name, (d.name,), (d.y[col],), d.kind, d.origin) for d in devices]
        ticks, names = series.draw_bars(ax, bars, fmt=lambda v: f"{v:,.0f}" if v >= 100 else f"{v:.3g}")
        ax.set_yticks(ticks, names, fontsize=8)
        ax.set(xscale="log", xlabel=unit)
        ax.invert_yaxis()
        ax.margins(x=0.3)
    axes[1].set_yticks([])
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", fontsize=8, frameon=False)
    fig.suptitle(title or "FP32 rate and memory bandwidth", fontsize=11)
    return fig


def spec_table(keys=None) -> str:
    """The spec table as aligned text (None: not on the datasheet)."""
    def f(v):
        return "-" if v is None else f"{v:,.4g}"
    head = (f"{'GPU':<24}{'FP32':>7}{'TF32':>7}{'FP16':>7}{'BF16':>7}{'FP64':>7}{'GB/s':>8}{'GB':>5}{'SMs':>5}"
            f"{'W':>5}")
    lines = [head, "-" * len(head)]
    for k in keys or SPECS:
        s = SPECS[k]
        lines.append(f"{s.name:<24}{f(s.fp32_tflops):>7}{f(s.tf32_tflops):>7}{f(s.fp16_tflops):>7}"
                     f"{f(s.bf16_tflops):>7}{f(s.fp64_tflops):>7}{s.bandwidth_gbs:>8,.0f}{s.memory_gib:>5.0f}"
                     f"{f(s.sm_count):>5}{f(s.tdp_w):>5}")
    lines.append("TFLOP/s, dense (no sparsity); '-': not given on the datasheet")
    return "\n".join(lines)


# ---- measured roofs (GPU only, through torch) ----------------------------------------------------------

def _cuda_torch():
    from gpuviz.runtime import cuda_torch

    return cuda_torch("measuring a roof (use the datasheet figures in gpuviz.roofline.SPECS instead)")


@dataclass(frozen=True)
class Roof:
    """A measured roof: `value` in GB/s (bandwidth) or GFLOP/s (compute), with how it was measured."""
    what: str
    value: float
    unit: str
    how: str
    device: str


def measure_bandwidth(nbytes: int = 1 << 30) -> Roof:
    """Device-to-device copy bandwidth (bytes read + bytes written per second) with torch."""
    from gpuviz.timing import benchmark

    torch = _cuda_torch()
    n = nbytes // 4
    src = torch.ones(n, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    t = benchmark(dst.copy_, src, sync="torch", label="D2D copy", nbytes=2 * src.nbytes, min_repeats=10)
    if not bool(torch.equal(dst, src)):
        raise RuntimeError("the device-to-device copy did not copy")
    return Roof("bandwidth", t.gbps, "GB/s", f"copy of {nbytes / 2**20:,.0f} MiB, read + write counted, median "
                f"of {len(t.samples)}", torch.cuda.get_device_name())


def measure_sgemm(n: int = 8192) -> Roof:
    """cuBLAS FP32 matmul rate (TF32 off) on n x n matrices, with torch."""
    from gpuviz.timing import benchmark

    torch = _cuda_torch()
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        g = torch.Generator(device="cuda").manual_seed(0)
        A = torch.rand(n, n, device="cuda", generator=g)
        B = torch.rand(n, n, device="cuda", generator=g)
        t = benchmark(torch.matmul, A, B, sync="torch", label="cuBLAS SGEMM", flops=2 * n**3, min_repeats=5)
        C = A @ B
        ref = A[:64].double() @ B.double()
        if not torch.allclose(C[:64].double(), ref, rtol=1e-4, atol=1e-2):
            raise RuntimeError("cuBLAS FP32 result disagrees with float64")
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    return Roof("fp32", t.gflops, "GFLOP/s", f"torch.matmul {n}x{n} float32, TF32 off, median of {len(t.samples)}",
                torch.cuda.get_device_name())


# The names drivers report (torch.cuda.get_device_name(), nvidia-smi), matched whole: a near miss is
# another product (the H100 NVL is not the H100 SXM, the GH200 not the H200, the A100 PCIe not the SXM).
DEVICE_NAMES = {
    "Tesla T4": "T4", "NVIDIA L4": "L4", "NVIDIA A10": "A10", "Tesla V100-SXM2-32GB": "V100 SXM2",
    "NVIDIA A100-SXM4-40GB": "A100 40GB", "NVIDIA A100-SXM4-80GB": "A100 80GB",
    "NVIDIA H100 80GB HBM3": "H100 SXM", "NVIDIA H100 PCIe": "H100 PCIe", "NVIDIA H200": "H200",
    "NVIDIA GeForce RTX 3090": "RTX 3090", "NVIDIA GeForce RTX 4090": "RTX 4090", "AMD Instinct MI100": "MI100",
}


def spec_for(device_name: str) -> Spec | None:
    """The SPECS row for a device name as the driver reports it ('NVIDIA A100-SXM4-80GB', 'Tesla T4'),
    or for a row's own name; None for any other GPU. Case and spacing are ignored, nothing else."""
    def norm(name):
        return " ".join(str(name).split()).upper()

    want = norm(device_name)
    for name, key in [*DEVICE_NAMES.items(), *((s.name, k) for k, s in SPECS.items())]:
        if norm(name) == want:
            return SPECS[key]
    return None
