"""`gpuviz bench`: the matrix-multiply ladder of notebooks 04-05 against cuBLAS, on a real GPU.

    gpuviz bench                       # sizes 256 ... 4096, writes matmul_ladder.json here
    gpuviz bench --sizes 1024 4096 --out results.json
    gpuviz bench --record              # also store it as the course's reference (gpuviz/reference/)
    gpuviz bench --quick               # no GPU needed: every kernel on small ragged sizes, checked

A full run needs a CUDA GPU: every kernel of `gpuviz.matmul_kernels.LADDER` is launched once
(compilation and a correctness check against cuBLAS), then timed with CUDA events after a warm-up,
repeated until the spread is small (median and interquartile range kept); cuBLAS is
`torch.matmul` in FP32 with TF32 off. The JSON holds the device, driver, versions and date
(`gpuviz.reference.environment()`), and per size and kernel the time, GFLOP/s and % of cuBLAS.

`--quick` checks correctness only: it runs every kernel under `gpuviz.tracer.scheduler` (on the CPU, thread by
thread; races and bad indices are reported) on sizes that are not multiples of any tile, compares
with NumPy, and, where Numba's real CUDA target is loaded, compiles each kernel to PTX for sm_75
and sm_90 and reports its registers, spills and blocks per SM (`gpuviz.course.compilecheck.check_ladder`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from gpuviz.runtime import NoGPU  # raised when the benchmark cannot run here: why, and what to do

REFERENCE_NAME = "matmul_ladder"
DEFAULT_SIZES = (256, 512, 1024, 2048, 4096)
LAUNCH_BOUND = 3          # a kernel within 3x of an empty launch's time is timing launches, not arithmetic
QUICK_SHAPES = ((1, 1, 1), (32, 32, 32), (45, 19, 70), (131, 9, 3))   # (M, K, N): ragged, several blocks
TARGETS = {"best_vs_cublas_4096": 0.50, "coalesced_over_uncoalesced": 5.0}


def _say(msg=""):
    print(msg, flush=True)


# ---- which part of C a full run checks -----------------------------------------------------------------

def check_indices(n: int, stripe: int | None = None) -> np.ndarray:
    """Rows (and the same columns) of an n x n product that a full run checks against float64.

    One index in every `stripe` (default: the smallest side of any ladder kernel's tile, so that every
    block row and block column of every kernel is checked), at an offset in the stripe that steps by
    5 each time (so every position within a tile comes up too), plus the last row."""
    from gpuviz import matmul_kernels as mk

    stripe = stripe or min(min(r.tile) for r in mk.LADDER)
    starts = np.arange(0, n, stripe)
    idx = starts + (np.arange(len(starts)) * 5) % stripe
    return np.unique(np.append(idx[idx < n], n - 1))


def sampled_error(A, B):
    """`rel_err(C)`: the relative Frobenius error of C against A @ B in float64, on the rows and columns
    `check_indices` picks (torch tensors, on any device; the exact product of those is computed once)."""
    import torch

    rows = torch.as_tensor(check_indices(A.shape[0]), device=A.device)
    cols = torch.as_tensor(check_indices(B.shape[1]), device=B.device)
    exact = A[rows].double() @ B[:, cols].double()

    def rel_err(C):
        return float(torch.linalg.norm(C[rows][:, cols].double() - exact) / torch.linalg.norm(exact))

    return rel_err


# ---- quick: correctness on the CPU -------------------------------------------------------------------

def quick(shapes=QUICK_SHAPES, ptx: bool | None = None) -> bool:
    """Every ladder kernel under the tracer on small ragged shapes, checked against NumPy; True if all pass."""
    from gpuviz import matmul_kernels as mk
    from gpuviz.tracer.scheduler import trace

    rng = np.random.default_rng(0)
    ok = True
    _say(f"gpuviz bench --quick: {len(mk.LADDER)} kernels x {len(shapes)} shapes (M, K, N), traced on the CPU")
    for M, K, N in shapes:
        A = rng.standard_normal((M, K)).astype(np.float32)
        B = rng.standard_normal((K, N)).astype(np.float32)
        want = A.astype(np.float64) @ B.astype(np.float64)
        for r in mk.LADDER:
            C = np.full((M, N), np.nan, np.float32)
            t0 = time.perf_counter()
            try:
                t = trace(r.kernel, r.grid(M, N), r.block, A, B, C, max_threads=1 << 20)
                problems = [str(p) for p in t.problems]
            except Exception as e:  # noqa: BLE001 report any failure and go on with the next kernel
                problems = [f"{type(e).__name__}: {e}"]
            err = float(np.max(np.abs(C - want)) / max(1.0, np.max(np.abs(want))))
            good = not problems and np.isfinite(err) and err < 1e-5
            ok &= good
            _say(f"  {'ok  ' if good else 'FAIL'} {r.name:<14} {M:>4}x{K:<4}@{K:>4}x{N:<4} max rel. error {err:.1e}"
                 f"  ({time.perf_counter() - t0:.1f} s)" + (f"  {problems[0]}" if problems else ""))
    if ptx is None:
        ptx = _real_target()
    if ptx:
        ok &= _compile_all()
    else:
        _say("  (PTX compilation skipped: the CUDA simulator is active; run without NUMBA_ENABLE_CUDASIM to add it)")
    _say("all kernels correct" if ok else "SOME KERNELS FAILED")
    return ok


def _real_target() -> bool:
    from numba import cuda

    return getattr(cuda, "compile_ptx", None) is not None


def _compile_all() -> bool:
    """Every kernel compiled to PTX and assembled by ptxas for sm_75 and sm_90: registers, spills and
    blocks per SM, as `gpuviz compile-check --ladder` prints them."""
    from gpuviz.course import compilecheck

    rows = compilecheck.check_ladder()
    _say("  compiled for sm_75 and sm_90 (registers per thread from ptxas; no GPU needed):")
    _say("  " + compilecheck.LADDER_HEADER)
    for row in rows:
        _say("  " + row.line().replace("\n", "\n  "))
    ok = all(row.ok for row in rows)
    if ok:
        _say("  every kernel compiles to PTX for sm_75, sm_90, without spills")
    return ok


# ---- full: timings on a GPU ----------------------------------------------------------------------------

def _require_gpu():
    from gpuviz.runtime import cuda_device_count, simulator_requested

    if simulator_requested():
        raise NoGPU("gpuviz bench times a real GPU, but the CUDA simulator is switched on "
                      "(NUMBA_ENABLE_CUDASIM=1), where timings mean nothing. Unset it on a machine with a GPU, "
                      "or run `gpuviz bench --quick` to check the kernels' results without a GPU.")
    if cuda_device_count() == 0:
        raise NoGPU("gpuviz bench times a real GPU, and no CUDA GPU is visible here. Run it on a GPU (e.g. Colab "
                      "with a T4), or run `gpuviz bench --quick` to check the kernels' results without one. "
                      "The notebooks show the recorded reference results meanwhile.")
    from gpuviz.runtime import cuda_torch

    return cuda_torch("gpuviz bench compares with cuBLAS through torch, so it")


def run(sizes=DEFAULT_SIZES, repeats: int = 5, max_time: float = 2.0, kernels=None) -> dict:
    """Time every ladder kernel and cuBLAS at each n (n x n matrices). GPU only. Returns the results dict."""
    torch = _require_gpu()
    from numba import cuda

    from gpuviz import matmul_kernels as mk
    from gpuviz.roofline import matmul_flops, measure_bandwidth, measure_sgemm
    from gpuviz.timing import benchmark, launch_overhead

    torch.backends.cuda.matmul.allow_tf32 = False
    rungs = [r for r in mk.LADDER if kernels is None or r.name in kernels]
    launch = {k: t.median for k, t in launch_overhead().items()}   # small n time this, not the arithmetic
    _say(f"an empty Numba launch costs {launch['numba'] * 1e6:.1f} µs, a one-element torch op "
         f"{launch['torch'] * 1e6:.1f} µs: times within {LAUNCH_BOUND}x of these measure launches")
    out = []
    gen = torch.Generator(device="cuda").manual_seed(0)
    for n in sizes:
        A = torch.rand(n, n, device="cuda", generator=gen) - 0.5
        B = torch.rand(n, n, device="cuda", generator=gen) - 0.5
        flops = matmul_flops(n, n, n)
        ref = torch.matmul(A, B)
        rel_err = sampled_error(A, B)

        cub = benchmark(torch.matmul, A, B, sync="torch", label="cuBLAS", size=n, flops=flops,
                        min_repeats=repeats, max_time=max_time)
        out.append(_row(n, "cublas", "cuBLAS (torch.matmul, FP32, TF32 off)", cub, cub.median, rel_err(ref),
                        4 * 3 * n * n))
        _say(_fmt(out[-1]))
        dA, dB = cuda.as_cuda_array(A), cuda.as_cuda_array(B)
        for r in rungs:
            C = torch.zeros(n, n, device="cuda")
            dC = cuda.as_cuda_array(C)
            r.launch(dA, dB, dC)                                     # compile and check first
            cuda.synchronize()
            err = rel_err(C)
            if not err < 1e-5:
                raise RuntimeError(f"{r.name} is wrong at n={n}: relative error {err:.2e} against float64")
            t = benchmark(r.launch, dA, dB, dC, sync="numba", label=r.label, size=n, flops=flops,
                          min_repeats=repeats, max_time=max_time)
            out.append(_row(n, r.name, r.label, t, cub.median, err, r.requested_bytes(n, n, n)))
            _say(_fmt(out[-1]))
        del A, B, ref, dA, dB, rel_err
        torch.cuda.empty_cache()
    roofs = {}
    try:
        roofs["bandwidth_gbs"] = measure_bandwidth().value
        roofs["sgemm_gflops"] = measure_sgemm().value
    except Exception as e:  # noqa: BLE001 the ladder is still worth keeping
        roofs["error"] = f"{type(e).__name__}: {e}"
    for row in out:
        row["launch_bound"] = row["median_s"] < LAUNCH_BOUND * launch["torch" if row["kernel"] == "cublas" else "numba"]
    summary = summarize(out) | {"launch_overhead_s": launch}
    return {"sizes": list(sizes), "rows": out, "roofs": roofs, "summary": summary, "launch_overhead_s": launch,
            "kernels": {r.name: r.label for r in rungs}, "method": {
                "timer": "CUDA events around batched launches, after one warm-up launch (gpuviz.timing.benchmark)",
                "repeats": f"at least {repeats} samples, until the interquartile spread is under 5 % or "
                           f"{max_time} s", "statistic": "median seconds per call",
                "inputs": "uniform(-0.5, 0.5) float32, C-contiguous, n x n",
                "check": "relative Frobenius error against float64 < 1e-5, on the rows x columns "
                         "bench.check_indices(n) picks: at least one in every block row and column"}}


def _row(n, name, label, t, cublas_s, err, requested):
    flops = 2 * n**3
    return {"n": n, "kernel": name, "label": label, "median_s": t.median, "iqr_s": list(t.spread),
            "samples": len(t.samples), "gflops": flops / t.median / 1e9, "pct_cublas": 100 * cublas_s / t.median,
            "rel_error": err, "requested_bytes": requested, "intensity": flops / requested}


def _fmt(row) -> str:
    return (f"n={row['n']:>5} {row['label']:<42} {row['median_s'] * 1e3:>10.3f} ms {row['gflops']:>10,.0f} GFLOP/s "
            f"{row['pct_cublas']:>6.1f} % of cuBLAS" + ("  (launch-bound)" if row.get("launch_bound") else ""))


def summarize(rows) -> dict:
    """The headline ratios and the issue's targets, at the largest size measured."""
    if not rows:
        return {}
    n = max(r["n"] for r in rows)
    at = {r["kernel"]: r for r in rows if r["n"] == n}
    mine = [r for k, r in at.items() if k != "cublas"]
    out = {"n": n}
    if mine:
        best = max(mine, key=lambda r: r["gflops"])
        out.update(best_kernel=best["kernel"], best_pct_cublas=best["pct_cublas"],
                   best_target_pct=100 * TARGETS["best_vs_cublas_4096"])
    if "coalesced" in at and "naive_rows" in at:
        out.update(coalesced_over_uncoalesced=at["naive_rows"]["median_s"] / at["coalesced"]["median_s"],
                   coalescing_target=TARGETS["coalesced_over_uncoalesced"])
    if "naive_float64" in at and "coalesced" in at:
        out["float64_slowdown"] = at["naive_float64"]["median_s"] / at["coalesced"]["median_s"]
    return out


def summary_lines(summary: dict) -> list[str]:
    s = summary
    lines = []
    if "best_kernel" in s:
        met = "meets" if s["best_pct_cublas"] >= s["best_target_pct"] else "MISSES"
        lines.append(f"best Numba kernel at n={s['n']}: {s['best_kernel']}, {s['best_pct_cublas']:.1f} % of cuBLAS "
                     f"({met} the target of {s['best_target_pct']:.0f} %)")
    if "coalesced_over_uncoalesced" in s:
        met = "meets" if s["coalesced_over_uncoalesced"] >= s["coalescing_target"] else "MISSES"
        lines.append(f"coalesced / uncoalesced naive kernel at n={s['n']}: {s['coalesced_over_uncoalesced']:.1f}x "
                     f"faster ({met} the target of {s['coalescing_target']:.0f}x)")
    if "float64_slowdown" in s:
        lines.append(f"float64 accumulation costs the coalesced naive kernel {s['float64_slowdown']:.1f}x")
    if "launch_overhead_s" in s:
        o = s["launch_overhead_s"]
        lines.append(f"launch overhead: {o['numba'] * 1e6:.1f} µs per empty Numba kernel, {o['torch'] * 1e6:.1f} µs "
                     f"per one-element torch op; times within {LAUNCH_BOUND}x of these are marked launch-bound")
    return lines


# ---- figures (pure: results dict in, Figure out) -------------------------------------------------------

def plot_ladder(results: dict, title: str | None = None, doc: dict | None = None):
    """Left: GFLOP/s of every kernel and cuBLAS against n. Right: % of cuBLAS at the largest n, as bars.
    Each line and the bars say where their numbers come from (gpuviz.series): recorded in the
    reference `doc` when the results were loaded from one, else measured here."""
    from matplotlib.figure import Figure

    from gpuviz import series

    rows = results["rows"]
    fig = Figure(figsize=(12, 4.6), layout="constrained")
    ax, bx = fig.subplots(1, 2, width_ratios=[1.1, 1])
    order = list(dict.fromkeys(r["kernel"] for r in rows))
    labels = {r["kernel"]: r["label"] for r in rows}
    lines, styles = [], []
    for i, k in enumerate(order):
        rs = sorted((r for r in rows if r["kernel"] == k), key=lambda r: r["n"])
        lines.append(series.measured_or_recorded(labels[k], [r["n"] for r in rs], [r["gflops"] for r in rs], doc))
        styles.append({"color": "k", "lw": 2.4, "marker": "*", "ms": 10} if k == "cublas" else
                      {"marker": "o", "color": f"C{i}"})
    series.draw_lines(ax, lines, styles=styles)
    ax.set(xscale="log", yscale="log", xlabel="n (n x n float32 matrices)", ylabel="GFLOP/s",
           title="rate against size")
    ax.set_xticks(results["sizes"], [str(s) for s in results["sizes"]])
    ax.minorticks_off()
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7.5)
    n = max(r["n"] for r in rows)
    at = [r for r in rows if r["n"] == n and r["kernel"] != "cublas"]
    pct = [r["pct_cublas"] for r in at]
    share = series.measured_or_recorded(f"% of cuBLAS at n = {n}", [r["label"] for r in at], pct, doc)
    ticks, names = series.draw_bars(bx, [share], fmt="{:.1f} %")
    for bar, r in zip(bx.patches, at):                 # each kernel keeps its colour from the left panel
        bar.set_facecolor(f"C{order.index(r['kernel'])}")
    bx.axvline(100, color="k", lw=1.5)
    bx.text(100, len(at) - 0.4, " cuBLAS", fontsize=8, va="center")
    bx.set_yticks(ticks, names, fontsize=8)
    bx.invert_yaxis()
    bx.set(xlabel="% of cuBLAS FP32 (higher is better)", xlim=(0, max(110, max(pct) * 1.2)),
           title=f"the ladder at n = {n}")
    bx.legend(fontsize=7.5, loc="upper right").legend_handles[0].set_facecolor("0.7")   # the origin, not a kernel
    fig.suptitle(title or "Matrix multiply ladder, float32", fontsize=11)
    return fig


def roofline_points(results: dict, n: int | None = None):
    """gpuviz.roofline.Point per kernel at size n (default: the largest), placed at the intensity of
    the bytes each kernel requests from global memory; cuBLAS at the compulsory intensity."""
    from gpuviz.roofline import Point, matmul_bytes, matmul_flops

    n = n or max(r["n"] for r in results["rows"])
    pts = []
    for r in results["rows"]:
        if r["n"] != n:
            continue
        if r["kernel"] == "cublas":
            pts.append(Point("cuBLAS (compulsory traffic)", matmul_flops(n, n, n) / matmul_bytes(n, n, n),
                             r["gflops"], "library"))
        else:
            pts.append(Point(r["label"], r["intensity"], r["gflops"]))
    return pts


# ---- command line ------------------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="gpuviz bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="check every kernel's result on small sizes; no GPU needed")
    p.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="n of the n x n matrices")
    p.add_argument("--repeats", type=int, default=5, help="minimum timed samples per kernel and size")
    p.add_argument("--max-time", type=float, default=2.0, help="seconds of repeats per kernel and size, at most")
    p.add_argument("--kernels", nargs="+", default=None, help="only these ladder kernels (names)")
    p.add_argument("--out", default="matmul_ladder.json", help="where to write the results (JSON)")
    p.add_argument("--record", action="store_true",
                   help=f"also store the results as the course's reference '{REFERENCE_NAME}'")
    a = p.parse_args(argv)
    if a.quick:
        return 0 if quick() else 1
    try:
        results = run(a.sizes, a.repeats, a.max_time, a.kernels)
    except NoGPU as e:
        print(f"gpuviz bench: {e}", file=sys.stderr)
        return 2
    from gpuviz import reference

    doc = {"name": REFERENCE_NAME, "environment": reference.environment(), "results": results}
    Path(a.out).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    for line in summary_lines(results["summary"]):
        _say(line)
    _say(f"wrote {a.out}")
    if a.record:
        _say(f"recorded {reference.save(REFERENCE_NAME, results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
