"""Every figure of gpuviz that shows performance numbers says where they come from (issue 19).

Figures drawn only on a GPU (the ladder, measured roofs, DDP scaling on GPUs) never run in CI, so
each figure function is called here on small synthetic data, measured and recorded, and its legend
must carry the four labels of gpuviz.series (`series.unlabelled(fig) == []`). A static scan finds
every function in gpuviz/ that draws a legend, so that a new one is either tested here or listed,
with its reason, among the figures whose legends are not about where numbers come from.
"""
import ast
import glob

import pytest

from gpuviz import bench, ddp, hardware, roofline, series, timing
from gpuviz.timing import Timing

DOC = {"environment": {"device": "NVIDIA H200", "date": "2026-11-30T07:00:00+00:00"}}
RECORDED = ": recorded on NVIDIA H200 on 2026-11-30"

LADDER = {"sizes": [256, 4096], "rows": [
    {"n": n, "kernel": k, "label": k, "median_s": s, "gflops": 2 * n**3 / s / 1e9, "pct_cublas": 100 * c / s}
    for n, c in ((256, 1e-4), (4096, 0.01))
    for k, s in (("cublas", c), ("naive_rows", c * 40), ("coalesced", c * 6), ("regblock2d", c * 1.6))]}

SCALING = {"world_size": 2, "backend": "nccl", "batch_sizes": [8, 64, 512],
           "alone": [[0.002, 0.0021], [0.004, 0.0041], [0.02, 0.021]],
           "no_sync": [[0.0021, 0.0022], [0.0042, 0.0043], [0.021, 0.022]],
           "ddp": [[0.004, 0.0041], [0.006, 0.0061], [0.023, 0.024]]}
ALLREDUCE = {"backend": "nccl", "bytes": [16, 4096, 2**20, 2**24], "seconds": [2e-5, 2.2e-5, 1e-4, 1e-3]}


def timings(label, device="torch"):
    return [Timing(label, [s, 1.1 * s, 0.9 * s], device, size=n, flops=2 * n**3) for n, s in ((64, 1e-5), (256, 1e-4))]


def figures(doc):
    """(name, Figure) for every figure function that shows performance numbers, on synthetic data,
    measured here (doc None) or recorded (doc a reference)."""
    workloads = [hardware.Workload("matmul 4096", 2 * 4096**3, 12 * 4096**2, "counted")]
    pts = [("naive", 0.25, 300.0), roofline.Point("cuBLAS", 683, 50000, "library")]
    yield "bench.plot_ladder", bench.plot_ladder(LADDER, doc=doc)
    yield "ddp.plot_scaling", ddp.plot_scaling(SCALING, doc=doc)
    yield "ddp.plot_allreduce", ddp.plot_allreduce(ALLREDUCE, grad_bytes=2**20, doc=doc)
    yield "roofline.plot_roofline (datasheet roof)", roofline.plot_roofline(
        pts, peak_gflops=67000, bandwidth_gbs=3350, extra_roofs={"TF32": 494500}, marks={"tiled": 8.0},
        datasheet="H100 SXM", doc=doc)
    yield "roofline.plot_roofline (measured roofs)", roofline.plot_roofline(
        pts, peak_gflops=51000, bandwidth_gbs=2900, doc=doc)
    yield "roofline.plot_peaks", roofline.plot_peaks(
        [series.measured_or_recorded("this machine", ["FP32 TFLOP/s", "GB/s"], [0.5, 20.0], doc),
         series.predicted("T4 peak", ["FP32 TFLOP/s", "GB/s"], [8.1, 320], gpu="T4")])
    yield "hardware.plot_rooflines", hardware.plot_rooflines(workloads, {k: roofline.SPECS[k] for k in ("T4", "MI100")})
    floor = Timing("empty launch", [5e-6, 6e-6, 5e-6], "torch")
    yield "timing.plot_scaling", timing.plot_scaling(timings("cuBLAS") + timings("naive", "numba"), floor=floor, doc=doc)
    yield "timing.plot_scaling gflops", timing.plot_scaling(timings("cuBLAS"), "gflops", doc=doc)
    yield "timing.plot_speedup", timing.plot_speedup(timings("CPU"), timings("GPU"), doc=doc)
    yield "timing.plot_breakdown", timing.plot_breakdown({"copy in": timings("in"), "compute": timings("mm")},
                                                         baseline=timings("CPU"), doc=doc)


@pytest.mark.parametrize("doc", [None, DOC], ids=["measured", "recorded"])
def test_every_performance_figure_says_where_its_numbers_come_from(doc):
    for name, fig in figures(doc):
        labels = [label for ax in fig.axes for label in ax.get_legend_handles_labels()[1]]
        assert labels, f"{name}: no legend entry at all"
        assert series.unlabelled(fig) == [], f"{name}: legend entries without their origin"
        if doc is not None and "plot_rooflines" not in name:
            assert any(label.endswith(RECORDED) for label in labels), (name, labels)
            assert not any(label.endswith(": measured here") for label in labels
                           if not label.startswith(("this machine", "roofline,"))), (name, labels)   # not from doc


def test_roofs_say_datasheet_or_measured():
    def labels(fig):
        return fig.axes[0].get_legend_handles_labels()[1]

    pts = [("naive", 0.25, 300.0)]
    sheet = labels(roofline.plot_roofline(pts, peak_gflops=8100, bandwidth_gbs=320, datasheet=roofline.SPECS["T4"]))
    assert sheet[0] == "roofline, 320 GB/s and 8.1 TFLOP/s FP32: predicted from the NVIDIA T4 datasheet"
    assert sheet[1] == "naive, 300 GFLOP/s at 0.25 FLOP/B (375% of roof): measured here"     # roof: 0.25 x 320
    measured = labels(roofline.plot_roofline(pts, peak_gflops=8100, bandwidth_gbs=320))
    assert measured[0].endswith(": measured here")


def test_plot_peaks_refuses_a_series_without_two_values():
    with pytest.raises(ValueError, match="two values"):
        roofline.plot_peaks([series.measured("CPU", ["FP32 TFLOP/s"], [0.1])])


def test_unlabelled_catches_a_figure_drawn_the_old_way():
    """The check above can fail: a legend entry without its origin is found, on any panel."""
    from matplotlib.figure import Figure

    fig = Figure()
    ax, bx = fig.subplots(1, 2)
    series.draw_lines(ax, [series.measured("CPU", [1, 2], [1, 2])])
    bx.plot([1, 2], [2, 1], label="1 process alone")
    assert series.unlabelled(fig) == ["1 process alone"]


# ---- the static scan: every legend drawn in gpuviz/ is accounted for ----------------------------------

TESTED = {"bench.plot_ladder", "ddp.plot_scaling", "ddp.plot_allreduce", "roofline.plot_roofline", "roofline.plot_peaks",
          "hardware.plot_rooflines", "timing.plot_scaling", "timing.plot_speedup", "timing.plot_breakdown",
          "series.plot_lines", "series._legend_below"}

# Legends that name parts of a diagram or of a training run, not where performance numbers come from.
NOT_ORIGINS = {
    "views.launch_map": "colours of blocks and threads in a diagram",
    "views._launch_map_trace": "colours of blocks and threads in a diagram",
    "views.access_heatmap": "markers of races and out-of-bounds accesses",
    "views.tile_walk": "tiles in shared memory, a diagram",
    "views.coalescing_view": "sectors moved, a diagram",
    "views.bank_view": "passes and conflicts, a diagram",
    "training.plot_curves": "loss and accuracy of the run in this notebook, against a target",
    "memory.plot_timeline": "memory by kind in this run, a breakdown",
    "memory.plot_estimate": "an estimate's parts beside the measured peak, a breakdown",
    "memory.plot_fit": "an estimate's parts against GPU capacities, a breakdown",
    "hardware.plot_costs": "roofline bound and an assumed overhead per GPU: a breakdown of one "
                             "prediction across GPUs, titled as a lower bound",
}


def functions_with_a_legend():
    found = set()
    for path in glob.glob("gpuviz/*.py"):
        module = path.split("/")[-1][:-3]
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.FunctionDef) and any(
                    isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "legend"
                    for n in ast.walk(node)):
                found.add(f"{module}.{node.name}")
    return found


def test_every_legend_in_gpuviz_is_labelled_or_accounted_for():
    found = functions_with_a_legend()
    assert {"bench.plot_ladder", "ddp.plot_scaling"} <= found           # the scan sees what it should
    new = found - TESTED - set(NOT_ORIGINS)
    assert not new, (f"{sorted(new)} draw a legend: build their lines with gpuviz.series (measured_or_recorded, "
                     "predicted, published) and add them to figures() in this file, or, if the legend is not "
                     "about where numbers come from, to NOT_ORIGINS with the reason")
    gone = (TESTED | set(NOT_ORIGINS)) - found - {"series._legend_below"}
    assert not gone, f"{sorted(gone)} no longer draw a legend: remove them from this file"
