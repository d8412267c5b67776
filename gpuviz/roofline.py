"""GPU specifications (dense peak rates, from datasheets) and the figures drawn from them.

Every row cites its source. Rates are dense: datasheets often print sparse Tensor Core figures,
which are twice these.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spec:
    name: str
    fp32_tflops: float
    bandwidth_gbs: float
    memory_gib: float
    source: str


SPECS = {
    "T4": Spec("NVIDIA T4", 8.1, 320, 16,
               "NVIDIA T4 Tensor Core GPU datasheet"),
    "H100 SXM": Spec("NVIDIA H100 SXM", 67, 3350, 80,
                     "NVIDIA H100 Tensor Core GPU datasheet"),
}


def plot_peaks(rows: list[tuple[str, float, float, str]], title: str = ""):
    """Two panels of bars: FP32 rate (TFLOP/s) and memory bandwidth (GB/s), log scale.

    rows: (label, tflops, gbs, kind) with kind "measured" or "datasheet".
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 3.4), layout="constrained")
    axes = fig.subplots(1, 2)
    labels = [r[0] for r in rows]
    colors = ["C1" if r[3] == "measured" else "C0" for r in rows]
    for ax, col, unit in ((axes[0], 1, "FP32 TFLOP/s"), (axes[1], 2, "memory bandwidth (GB/s)")):
        vals = [r[col] for r in rows]
        ax.barh(labels, vals, color=colors)
        for y, v in enumerate(vals):
            ax.text(v, y, f" {v:,.0f}" if v >= 100 else f" {v:.3g}", va="center", fontsize=8)
        ax.set(xscale="log", xlabel=unit)
        ax.invert_yaxis()
        ax.margins(x=0.25)
    axes[1].set_yticks([])
    fig.suptitle(title or "orange: measured here, blue: datasheet")
    return fig
