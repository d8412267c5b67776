"""One benchmark helper for the whole course, and its plots.

`benchmark` warms up first (so JIT compilation stays out), synchronizes the device, times with
CUDA events on a GPU and `perf_counter` on the CPU, and repeats until the spread is small or a
time cap is hit. Timings taken under the CUDA simulator are marked not meaningful; the plots
draw them greyed out and never as speedups.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

SYNCS = (None, "numba", "torch")   # what benchmark(sync=...) waits for: nothing (CPU code), Numba, torch


@dataclass
class Timing:
    """Seconds per call: median and interquartile spread over `samples`."""

    label: str
    samples: list = field(repr=False)
    sync: str | None = None      # the library whose GPU work was waited for and timed with CUDA events
    meaningful: bool = True
    size: float | None = None
    flops: float | None = None
    nbytes: float | None = None

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    @property
    def spread(self) -> tuple[float, float]:
        lo, hi = np.percentile(self.samples, [25, 75])
        return float(lo), float(hi)

    @property
    def rel_spread(self) -> float:
        lo, hi = self.spread
        return (hi - lo) / self.median if self.median > 0 else float("inf")

    @property
    def gflops(self) -> float | None:
        return self.flops / self.median / 1e9 if self.flops else None

    @property
    def gbps(self) -> float | None:
        return self.nbytes / self.median / 1e9 if self.nbytes else None

    def __str__(self) -> str:
        s = f"{self.label}: {fmt_seconds(self.median)} ± {100 * self.rel_spread / 2:.0f}% (n={len(self.samples)})"
        if self.gflops:
            s += f", {self.gflops:,.1f} GFLOP/s"
        if self.gbps:
            s += f", {self.gbps:,.1f} GB/s"
        return s + ("" if self.meaningful else "  [simulator: not meaningful]")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Timing":
        d = dict(d)
        if "device" in d:          # written before the timer was named `sync`: "cpu" meant no synchronization
            device = d.pop("device")
            d.setdefault("sync", None if device == "cpu" else device)
        return cls(**d)


def fmt_seconds(s: float) -> str:
    """Seconds with a readable unit: 1.5 ms, 320 µs."""
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _simulated() -> bool:
    from gpuviz.runtime import simulator_requested

    return simulator_requested()


def _timer(sync: str | None):
    """A function that runs `fn` `number` times and returns the seconds it took."""
    if sync == "torch":
        import torch

        if torch.cuda.is_available():
            def run(fn, number):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(number):
                    fn()
                end.record()
                end.synchronize()
                return start.elapsed_time(end) / 1e3
            return run
    if sync == "numba" and not _simulated():
        from numba import cuda

        def run(fn, number):
            start, end = cuda.event(timing=True), cuda.event(timing=True)
            start.record()
            for _ in range(number):
                fn()
            end.record()
            end.synchronize()
            return cuda.event_elapsed_time(start, end) / 1e3
        return run

    def run(fn, number):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return time.perf_counter() - t0
    return run


def _synchronize(sync: str | None) -> None:
    if sync == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    elif sync == "numba" and not _simulated():
        from numba import cuda

        cuda.synchronize()


def benchmark(fn, *args, sync: str | None = None, label: str | None = None, size=None, flops=None, nbytes=None,
              warmup: int = 1, min_repeats: int = 5, max_repeats: int = 100, max_time: float = 1.0,
              target_spread: float = 0.05, min_sample: float = 1e-3, **unknown) -> Timing:
    """Time `fn(*args)`: warm-up, then adaptive repeats. Returns a Timing.

    sync: None for CPU code (perf_counter); "numba" or "torch" for GPU work launched through that
    library, which returns before the GPU has finished: it is waited for, and timed with CUDA events.
    Calls faster than `min_sample` are batched so that each sample lasts at least that long.
    Repeats stop once `min_repeats` samples have a relative spread under `target_spread`, or after
    `max_repeats` samples or `max_time` seconds. Keyword arguments of `fn` go through a lambda:
    `benchmark(lambda: np.bincount(x, minlength=32))`, so no name means two things.
    """
    if unknown:
        hint = " (`device=` is now `sync=`: the library whose GPU work is waited for)" if "device" in unknown else ""
        raise TypeError(f"benchmark() got keyword argument(s) {', '.join(unknown)} it does not take{hint}. "
                        "To pass keyword arguments to the timed function, wrap the call: "
                        "gv.benchmark(lambda: fn(x, key=value)).")
    if sync not in SYNCS:
        raise ValueError(f"sync must be one of {SYNCS}, got {sync!r}")
    call = (lambda: fn(*args)) if args else fn
    for _ in range(warmup):
        call()
    _synchronize(sync)
    run = _timer(sync)
    number, t = 1, run(call, 1)
    while t < min_sample and number < 10_000:  # batch fast calls
        number *= max(2, min(10, int(min_sample / max(t, 1e-9))))
        t = run(call, number)
    samples, deadline = [t / number], time.perf_counter() + max_time
    while len(samples) < max_repeats:
        samples.append(run(call, number) / number)
        if len(samples) >= min_repeats:
            lo, mid, hi = np.percentile(samples, [25, 50, 75])
            if (hi - lo) / mid < target_spread or time.perf_counter() > deadline:
                break
    meaningful = not (sync == "numba" and _simulated())
    return Timing(label or getattr(fn, "__name__", "fn"), samples, sync, meaningful, size, flops, nbytes)


_overhead: dict | None = None


def launch_overhead() -> dict[str, Timing]:
    """What one launch costs with no work in it, measured once per process: an empty Numba kernel
    ("numba") and a one-element torch add ("torch", on the GPU when torch has CUDA).

    Launched back to back, a kernel shorter than this keeps the GPU waiting for the host, so its
    timing measures the launch rate, not the GPU. Compare small kernels with these numbers, or give
    them enough work to amortize them. Used in notebooks 01, 03 and 06 and by `gpuviz bench`.
    """
    global _overhead
    if _overhead is None:
        import torch
        from numba import cuda

        @cuda.jit
        def empty():
            pass

        dev = "cuda" if torch.cuda.is_available() else "cpu"
        one = torch.zeros(1, device=dev)
        _overhead = {"numba": benchmark(lambda: empty[1, 1](), sync="numba", label="empty Numba kernel launch"),
                     "torch": benchmark(lambda: one.add_(1), sync="torch",
                                        label=f"one-element torch op ({dev})")}
    return _overhead


def cpu_copy(nbytes: int, threads: int | None = None, **kwargs) -> Timing:
    """This CPU's memory bandwidth, measured: copy a float32 array of `nbytes` bytes into another with
    `threads` threads (None: all of torch's intra-op threads, by default one per physical core). The
    Timing's nbytes counts the read and the write (2 * nbytes), as a GPU's device-to-device copy does.

    One core cannot keep a modern CPU's memory busy: it has too few outstanding loads in flight, so
    a single-threaded copy (`threads=1`, like `np.copyto`) measures one core, not the DRAM. The label
    says how many threads ran. Keyword arguments go to `benchmark`. Used in notebooks 00 and 02.
    """
    import torch

    n = nbytes // 4
    src, dst = torch.ones(n), torch.empty(n)
    before = torch.get_num_threads()
    use = before if threads is None else int(threads)
    try:
        torch.set_num_threads(use)
        t = benchmark(dst.copy_, src, label=f"CPU memory copy, {use} thread{'s' if use > 1 else ''}",
                      size=nbytes, nbytes=2 * 4 * n, **{"min_repeats": 3, **kwargs})
    finally:
        torch.set_num_threads(before)
    assert bool((dst == 1).all()), "the copy lost data"
    return t


# ---- plots: pure functions, Timing lists in, Figure out ----

def _figure(figsize=(6.4, 4.2)):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _series(timings):
    groups: dict[str, list[Timing]] = {}
    for t in timings:
        groups.setdefault(t.label, []).append(t)
    return {k: sorted(v, key=lambda t: t.size) for k, v in groups.items()}


def _label(name: str, doc: dict | None) -> str:
    """The legend entry of a line of timings: measured here, or recorded in the reference `doc`
    (gpuviz.series), so that every figure says where its numbers come from."""
    from gpuviz import series

    return series.measured_or_recorded(name, (), (), doc).label


_METRICS = {"time": ("median", "time per call (s)"), "gflops": ("gflops", "GFLOP/s"), "gbps": ("gbps", "GB/s")}


def plot_scaling(timings, metric: str = "time", xlabel: str = "problem size", title: str | None = None,
                 floor: Timing | None = None, doc: dict | None = None):
    """Time (or GFLOP/s, GB/s) against problem size on log-log axes, one line per label. `floor`, a
    Timing such as `launch_overhead()["numba"]`, is drawn as a dashed line on a time plot: points near
    it measure launches, not work. Lines are labelled measured here, or recorded in the reference
    `doc` the timings were loaded from."""
    attr, ylabel = _METRICS[metric]
    fig = _figure()
    ax = fig.add_subplot()
    for label, ts in _series(timings).items():
        x = [t.size for t in ts]
        y = [getattr(t, attr) for t in ts]
        meaningful = all(t.meaningful for t in ts)
        if metric == "time":
            err = np.array([[t.median - t.spread[0], t.spread[1] - t.median] for t in ts]).T
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=_label(label if meaningful else
                        f"{label} (simulator: not meaningful)", doc), color=None if meaningful else "0.6",
                        linestyle="-" if meaningful else ":")
        else:
            ax.plot(x, y, marker="o", label=_label(label, doc), color=None if meaningful else "0.6")
    if floor is not None and metric == "time" and floor.meaningful:
        ax.axhline(floor.median, color="k", lw=1, ls="--",
                   label=_label(f"{floor.label}, {fmt_seconds(floor.median)}", doc))
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel, title=title or "")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


def speedups(baseline, timings) -> list[tuple[float, float]]:
    """(size, baseline time / time) for sizes present in both; refuses simulator timings."""
    if not all(t.meaningful for t in (*baseline, *timings)):
        raise ValueError("simulator timings are not meaningful: they cannot be compared as speedups")
    base = {t.size: t.median for t in baseline}
    return [(t.size, base[t.size] / t.median) for t in sorted(timings, key=lambda t: t.size) if t.size in base]


def plot_speedup(baseline, timings, xlabel: str = "problem size", title: str | None = None,
                 doc: dict | None = None):
    """Speedup of each series in `timings` over `baseline` (both lists of Timing) against size,
    labelled measured here, or recorded in the reference `doc`."""
    fig = _figure()
    ax = fig.add_subplot()
    if not all(t.meaningful for t in (*baseline, *timings)):
        ax.text(0.5, 0.5, "No speedup drawn: simulator timings are not meaningful.\n"
                "Run on a GPU, or look at the reference results.", ha="center", va="center")
        ax.set_axis_off()
        return fig
    for label, ts in _series(timings).items():
        pts = speedups(baseline, ts)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                label=_label(f"{label} vs {baseline[0].label}", doc))
    ax.axhline(1.0, color="k", lw=1, ls="--")
    ax.annotate("faster than baseline above this line", (0.01, 1.0), xycoords=("axes fraction", "data"),
                va="bottom", fontsize=8)
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="speedup (×)", title=title or "")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


def plot_bars(timings, title: str | None = None):
    """Horizontal bars of median time with interquartile spread, one bar per Timing."""
    fig = _figure(figsize=(6.4, 0.5 + 0.45 * len(timings)))
    ax = fig.add_subplot()
    y = np.arange(len(timings))
    med = np.array([t.median for t in timings])
    err = np.array([[t.median - t.spread[0], t.spread[1] - t.median] for t in timings]).T
    colors = ["C0" if t.meaningful else "0.7" for t in timings]
    ax.barh(y, med, xerr=err, color=colors, capsize=3)
    ax.set_yticks(y, [t.label + ("" if t.meaningful else " (sim)") for t in timings])
    ax.invert_yaxis()
    xlabel = "time per call (s)"
    if not all(t.meaningful for t in timings):
        xlabel += "\ngrey: simulator timings, not meaningful"
    ax.set(xlabel=xlabel, xscale="log", title=title or "")
    return fig


def plot_breakdown(stages: dict, baseline=None, title: str | None = None, doc: dict | None = None):
    """Stacked bars per problem size: one segment per stage (e.g. copy in, compute, copy out).

    `stages` maps a stage name to a list of Timing (one per size); `baseline`, a list of Timing
    drawn as a separate bar beside each stack (e.g. the CPU doing the whole job). Both are labelled
    measured here, or recorded in the reference `doc`.
    """
    fig = _figure(figsize=(7.0, 4.2))
    ax = fig.add_subplot()
    sizes = sorted({t.size for ts in stages.values() for t in ts})
    x = np.arange(len(sizes))
    width = 0.38 if baseline else 0.6
    bottom = np.zeros(len(sizes))
    for name, ts in stages.items():
        by_size = {t.size: t.median for t in ts}
        h = np.array([by_size.get(s, 0.0) for s in sizes])
        ax.bar(x - (width / 2 if baseline else 0), h, width, bottom=bottom, label=_label(name, doc))
        bottom += h
    if baseline:
        by_size = {t.size: t.median for t in baseline}
        ax.bar(x + width / 2, [by_size.get(s, np.nan) for s in sizes], width, color="0.55",
               label=_label(baseline[0].label, doc))
    ax.set_xticks(x, [str(s) for s in sizes])
    ax.set(yscale="log", xlabel="problem size", ylabel="time (s)", title=title or "")
    ax.legend(fontsize=8)
    return fig
