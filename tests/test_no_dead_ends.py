"""No dead ends without a GPU (issue 19): every lesson shows something real, labelled for what it is.

Three checks, cheap enough to run on every commit:
- No notebook says that nothing can be shown, measured or recorded: its sources (code and prose, both
  notebook sets) contain none of the dead-end phrases. A printed message is in the source, so this
  catches what a simulator run would print.
- Every notebook shows at least one figure drawn by the shared labelling helper (`series.plot_*`), as
  a cell's value or through display(), in a statement that runs in every mode: not inside an `if`, a
  loop or a function that may not run.
- Every figure the helper draws carries one of the four labels (tested on the helper itself, for
  every kind, lines, bars and rooflines); a series of any other kind is refused when it is made.
A slow test executes notebook 00 in simulator mode and reads what it printed and drew.
"""
import ast
import glob
import json
import re

import numpy as np
import pytest

from gpuviz import predict, series

NOTEBOOKS = sorted(glob.glob("course/solutions/*.ipynb") + glob.glob("notebooks/*.ipynb"))

DEAD_ENDS = re.compile(
    r"nothing to (show|measure|place|break down|compare|record)|no GPU curve|no reference results|"
    r"no \w+( \w+)? to show|so there is no figure|Skipped|can only be measured|(is|are) not measured|not measured here|"
    r"No GPU (here|measurements)[:,;.]|GPU only[:.]", re.I)

PLOTS = {"plot_lines", "plot_bars", "plot_roofline"}


def cells(path, kind=None):
    return [(i, "".join(c["source"])) for i, c in enumerate(json.load(open(path))["cells"])
            if kind is None or c["cell_type"] == kind]


def dead_ends(text: str) -> list[str]:
    return [m.group(0) for m in DEAD_ENDS.finditer(text)]


def _is_plot(node) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in PLOTS
            and ast.unparse(node.func.value).endswith("series"))


def unconditional_figures(source: str) -> int:
    """Figures of series.plot_* that a cell shows in every mode: the cell's last statement, not hidden by a
    trailing `;` (a Figure shows as the cell's value), or passed to display(), at the cell's top level
    (or inside `with`/`try`), not inside an `if`, a loop or a function that may not run."""
    count = 0
    body = ast.parse(source).body
    stmts = list(body)
    while stmts:
        st = stmts.pop(0)
        if isinstance(st, (ast.With, ast.Try)):
            stmts += st.body
            continue
        if not isinstance(st, ast.Expr) or not isinstance(st.value, ast.Call):
            continue
        call = st.value
        if _is_plot(call) and st is body[-1] and not source.rstrip().endswith(";"):
            count += 1
        elif ast.unparse(call.func) == "display" and any(_is_plot(a) for a in call.args):
            count += 1
    return count


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_no_dead_end_in_any_cell(path):
    found = [(i, d) for i, src in cells(path) for d in dead_ends(src)]
    assert not found, (f"{path}: (cell, words) {found} tell a learner without a GPU that there is nothing here. "
                       "Show a prediction (gpuviz.predict), a published measurement or a measurement of this "
                       "machine instead, drawn with gpuviz.series.")


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_every_notebook_draws_a_labelled_figure_in_every_mode(path):
    n = sum(unconditional_figures(src) for _, src in cells(path, "code"))
    assert n >= 1, (f"{path}: no series.plot_lines / plot_bars / plot_roofline call that runs in every mode. "
                    "Draw at least one figure through gpuviz.series outside any `if gv.on_gpu()` branch.")


def test_the_checks_catch_what_they_should():
    assert dead_ends('print("No GPU here, and no reference results have been recorded")')
    assert dead_ends('print("No GPU measurements: no speedup to show.")')
    assert dead_ends('print("Skipped: the CUDA simulator has no warp shuffles.")')
    assert not dead_ends('print("GPU timings: predicted from the datasheets")')
    assert unconditional_figures("series.plot_lines([s], xlabel='n', ylabel='s')") == 1
    assert unconditional_figures("series.plot_lines([s], xlabel='n', ylabel='s');") == 0     # hidden by the ;
    assert unconditional_figures("display(gv.series.plot_bars([s], xlabel='s'))\nx = 1") == 1
    assert unconditional_figures("series.plot_bars([s], xlabel='s')\nx = 1") == 0          # not the cell's value
    assert unconditional_figures("if gv.on_gpu():\n    series.plot_lines([s], xlabel='n', ylabel='s')\n") == 0
    assert unconditional_figures("def f():\n    series.plot_lines([s], xlabel='n', ylabel='s')\n") == 0
    assert unconditional_figures("gv.timing.plot_scaling(ts)") == 0


# ---- the helper: one honest label per series ---------------------------------------------------------

DOC = {"environment": {"device": "Tesla T4", "date": "2026-11-30T07:00:00+00:00"}}


def all_kinds():
    pub = series.load_published("sgemm_ladder_cuda_c")
    return [series.measured("CPU", [1, 2], [3.0, 4.0]),
            series.recorded("GPU", [1, 2], [1.0, 2.0], DOC),
            series.predicted("T4", [1, 2], [0.5, 1.0], gpu="T4"),
            series.published("ladder", [1], [93.7], pub),
            series.modelled("estimate", [1, 2], [2.0, 3.0], "gv.memory.estimate")]


def test_labels_say_where_numbers_come_from():
    labels = [s.label for s in all_kinds()]
    assert labels[:3] == ["CPU: measured here", "GPU: recorded on Tesla T4 on 2026-11-30",
                          "T4: predicted from the NVIDIA T4 datasheet"]
    assert labels[3] == "ladder: published by siboehm/SGEMM_CUDA (NVIDIA RTX A6000, 2022-12)"
    assert labels[4] == "estimate: predicted by gv.memory.estimate"
    assert all(series.LABEL_RE.search(label) for label in labels)
    assert not series.LABEL_RE.search("GPU compute (torch)")
    assert not series.LABEL_RE.search("T4: predicted")
    assert not series.LABEL_RE.search("T4: predicted by ")


def test_every_figure_of_the_helper_is_labelled():
    lines = series.plot_lines(all_kinds(), xlabel="n", ylabel="s", marks={"crossover": 2})
    bars = series.plot_bars([series.measured("CPU", ["fp32", "bf16"], [1.0, 2.0]),
                             series.predicted("T4", ["fp32", "fp16"], [0.1, 0.01], gpu="T4")], xlabel="ms")
    roof = series.plot_roofline({"naive": 0.25, "tiled": 8.0}, ("T4", "H100 SXM"),
                                measured=[series.measured("naive", [0.25], [50.0])])
    for fig in (lines, bars, roof):
        _, labels = fig.axes[0].get_legend_handles_labels()
        assert labels and series.unlabelled(fig) == []
    _, labels = roof.axes[0].get_legend_handles_labels()
    assert "naive on the T4: predicted from the NVIDIA T4 datasheet" in labels
    assert "naive: measured here" in labels


def test_unlabelled_finds_a_bare_legend():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    ax.plot([1, 2], [1, 2], label="GPU compute (torch)")
    ax.legend()
    assert series.unlabelled(fig) == ["GPU compute (torch)"]


def test_a_series_is_one_kind_with_matching_lengths():
    with pytest.raises(ValueError, match="one of"):
        series.Series("x", (1,), (1,), "estimated")
    with pytest.raises(ValueError, match="2 x values but 1 y values"):
        series.measured("x", [1, 2], [1])


def test_from_timings_measured_or_recorded():
    from gpuviz.timing import Timing

    ts = [Timing("cuBLAS", [0.002], "torch", size=512, flops=2 * 512**3),
          Timing("cuBLAS", [0.001], "torch", size=256, flops=2 * 256**3)]
    s = series.from_timings(ts, "gflops")
    assert s.x == (256, 512) and s.kind == "measured" and s.label == "cuBLAS: measured here"
    assert s.y == pytest.approx((2 * 256**3 / 0.001 / 1e9, 2 * 512**3 / 0.002 / 1e9))
    r = series.from_timings(ts, doc=DOC, x=[0.25, 0.5])
    assert r.kind == "recorded" and r.x == (0.25, 0.5) and r.y == (0.001, 0.002)


@pytest.mark.parametrize("path", sorted(glob.glob("gpuviz/reference/published/*.json")))
def test_published_measurements_are_cited_data(path):
    doc = json.load(open(path))
    assert {"what", "source", "device", "date", "unit", "values"} <= set(doc), path
    assert re.fullmatch(r"\d{4}(-\d{2})?", doc["date"]), "date: YYYY or YYYY-MM"
    assert doc["values"] and all(isinstance(v, (int, float)) and v > 0 for v in doc["values"].values())
    s = series.published("x", list(doc["values"]), list(doc["values"].values()), doc)
    assert series.LABEL_RE.search(s.label)


def test_load_published_names_what_exists():
    with pytest.raises(FileNotFoundError, match="sgemm_ladder_cuda_c"):
        series.load_published("no_such_measurement")


# ---- predictions from the datasheet -------------------------------------------------------------------

def test_matmul_prediction_is_the_roofline_bound():
    # n = 4096 on a T4: compute-bound, 2 n^3 FLOP at 8.1 TFLOP/s
    assert predict.matmul_seconds(4096, "T4") == pytest.approx(2 * 4096**3 / 8.1e12)
    # n = 16: memory-bound, 12 n^2 bytes at 320 GB/s
    assert predict.matmul_seconds(16, "T4") == pytest.approx(12 * 16**2 / 320e9)
    assert predict.matmul_seconds([16, 4096], "H100 SXM", overhead_s=3e-6)[0] == pytest.approx(3e-6 + 12 * 256 / 3350e9)
    assert predict.matmul_seconds(4096, "H100 SXM", precision="bf16", itemsize=2) == pytest.approx(2 * 4096**3 / 989.5e12)
    with pytest.raises(ValueError, match="no bf16 rate"):
        predict.matmul_seconds(4096, "T4", precision="bf16")
    with pytest.raises(KeyError, match="SPECS has"):
        predict.peak_gflops("T5")


def test_transfer_and_energy_predictions():
    assert predict.pcie_gbs("T4") == pytest.approx(15.75, rel=1e-3)          # PCIe 3.0 x16
    assert predict.pcie_gbs("H100 SXM") == pytest.approx(63.0, rel=1e-3)     # PCIe 5.0 x16
    assert predict.transfer_seconds(15.75e9, "T4") == pytest.approx(1.0, rel=1e-3)
    assert predict.energy_joules(10.0, "T4") == 700.0                        # 70 W for 10 s
    assert set(predict.PCIE_GEN) == set(predict.SPECS)


def test_launch_overhead_in_predictions():
    from gpuviz.timing import Timing

    assert 1e-6 <= predict.LAUNCH_OVERHEAD_S <= 50e-6            # a few microseconds, not a datasheet figure
    o = predict.LAUNCH_OVERHEAD_S
    assert predict.transfer_seconds(15.75e9, "T4", overhead_s=o) == pytest.approx(1.0 + o, rel=1e-3)
    assert predict.matmul_seconds(16, "T4", overhead_s=o) == pytest.approx(o + 12 * 16**2 / 320e9)
    # without a GPU (or with a simulator's timing) the assumption, with one the measurement
    assert predict.launch_overhead_s() == (o, "assumed")
    assert predict.launch_overhead_s(Timing("empty", [1e-3], "numba", meaningful=False)) == (o, "assumed")
    assert predict.launch_overhead_s(Timing("one-element torch op (cuda)", [6e-6, 7e-6, 8e-6], "torch")) == \
        (pytest.approx(7e-6), "measured here")


def test_a_small_gpu_job_is_predicted_to_lose_to_the_cpu():
    """Notebook 00's prediction at n = 64 (two copies in, a multiply, a copy out, float32) against a CPU
    at 100 GFLOP/s: without launches the T4 would win; with a launch cost per operation it loses."""
    n, cpu_s = 64, 2 * 64**3 / 100e9

    def t4(per_op):
        return float(predict.transfer_seconds(8 * n**2, "T4", 2 * per_op)
                     + predict.matmul_seconds(n, "T4", overhead_s=per_op) + predict.transfer_seconds(4 * n**2, "T4", per_op))

    assert t4(0.0) < cpu_s < t4(predict.LAUNCH_OVERHEAD_S)
    src = "".join(src for _, src in cells("course/solutions/00_why_gpus.ipynb", "code"))
    assert "predict.launch_overhead_s(timing.launch_overhead()" in src and "overhead_s=per_op" in src


def test_traced_intensity_counts_sectors_moved():
    from gpuviz import matmul_kernels as mk
    from gpuviz.tracer.scheduler import trace

    n = 16
    rng = np.random.default_rng(0)
    A, B = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    out = {}
    for name in ("naive_rows", "coalesced"):
        r = mk.RUNGS[name]
        out[name] = trace(r.kernel, r.grid(n, n), r.block, A, B, np.zeros((n, n), np.float32))
    rows, coal = (predict.traced_intensity(out[k], 2 * n**3) for k in ("naive_rows", "coalesced"))
    assert coal > 4 * rows                    # uncoalesced loads move a sector per thread
    assert predict.coalescing(out["coalesced"]) > 0.9 > 0.3 > predict.coalescing(out["naive_rows"])
    r = mk.RUNGS["coalesced"]
    assert predict.rung_intensity(r, 1024) == pytest.approx(2 * 1024**3 / r.requested_bytes(1024, 1024, 1024))
    assert predict.rung_intensity(r, 1024, 0.5) == pytest.approx(predict.rung_intensity(r, 1024) / 2)


# ---- one notebook, executed in simulator mode ----------------------------------------------------------

@pytest.mark.slow
def test_notebook_00_without_a_gpu_prints_no_dead_end_and_shows_its_figures(tmp_path):
    from gpuviz.course import nbrun

    r = nbrun.run("course/solutions/00_why_gpus.ipynb", log=tmp_path / "00.log", budget=300,
                  env={"NUMBA_ENABLE_CUDASIM": "1", "GPUVIZ_OFFLINE": "1"}, figures=tmp_path / "figs")
    assert r.status == "ok", (r.error, r.traceback)
    printed = (tmp_path / "00.log").read_text()
    assert not dead_ends(printed), dead_ends(printed)
    from gpuviz import reference

    if reference.load("00_why_gpus") is None:       # nothing recorded: the GPU side is the prediction
        assert "predicted from the T4 and H100 datasheets" in printed
    assert "crossover predicted for the T4" in printed
    assert len(list((tmp_path / "figs").glob("*.png"))) >= 4       # time, rate, stages, crossover (+ peaks)
