"""One honest label per series: every line, bar or point drawn says where its numbers come from.

    from gpuviz import series
    cpu = series.measured("CPU (NumPy)", sizes, seconds)
    t4 = series.predicted("T4 matmul", sizes, predict.matmul_seconds(sizes, "T4"), gpu="T4")
    series.plot_lines([cpu, t4], xlabel="n", ylabel="seconds")

Five kinds, worded the same in every notebook:

    <name>: measured here
    <name>: recorded on <GPU> on <date>            (gpuviz.reference, results from a real GPU run)
    <name>: predicted from the <GPU> datasheet     (gpuviz.predict, the roofline model on roofline.SPECS)
    <name>: predicted by <model>                   (a model of this machine's run: gv.memory.estimate, ...)
    <name>: published by <source> (<device>, <date>)   (gpuviz/reference/published/*.json)

A series holds one kind only: a learner's measurement, a recorded reference, a prediction and a
published figure are never merged. Each kind has its own style (solid dots, squares, dashed lines,
stars; hatched bars for predictions), so the kind reads from the figure as well as from the legend.
Figures of several panels (gpuviz.bench, ddp, roofline, hardware) draw their series onto their own
axes with `draw_lines` / `draw_bars`; tests/test_labelled_figures.py checks every figure of gpuviz.
Used in notebooks 00 to 12.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

PUBLISHED = Path(__file__).parent / "reference" / "published"
KINDS = ("measured", "recorded", "predicted", "modelled", "published")

# What a legend entry must match: the test of every notebook's figures uses it.
LABEL_RE = re.compile(r": (measured here|recorded on .+ on \d{4}-\d{2}(-\d{2})?|predicted from the .+ datasheet"
                      r"|predicted by .+|published by .+ \(.+, \d{4}(-\d{2})?\))$")

_LINE_STYLE = {"measured": dict(marker="o", ls="-"), "recorded": dict(marker="s", ls="-"),
               "predicted": dict(marker="", ls="--", lw=2),
               "modelled": dict(marker="", ls="-.", lw=2), "published": dict(marker="*", ms=11, ls=":")}
_POINT = dict(marker="D", mfc="none", ms=8, mew=1.6)   # a predicted value at one x: a hollow diamond
_BAR_STYLE = {"measured": dict(), "recorded": dict(), "predicted": dict(hatch="//", alpha=0.55),
              "modelled": dict(hatch="\\\\", alpha=0.55), "published": dict(hatch="..", alpha=0.75)}


@dataclass(frozen=True)
class Series:
    """Numbers of one kind from one origin. x: sizes (lines) or category names (bars)."""
    name: str
    x: tuple
    y: tuple
    kind: str
    origin: str = ""     # recorded: "<GPU> on <date>"; predicted: the GPU; modelled: the model;
    #                      published: "<source> (<device>, <date>)"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"a series is one of {KINDS}, not {self.kind!r}")
        if len(self.x) != len(self.y):
            raise ValueError(f"series {self.name!r}: {len(self.x)} x values but {len(self.y)} y values")

    @property
    def label(self) -> str:
        return {"measured": f"{self.name}: measured here",
                "recorded": f"{self.name}: recorded on {self.origin}",
                "predicted": f"{self.name}: predicted from the {self.origin} datasheet",
                "modelled": f"{self.name}: predicted by {self.origin}",
                "published": f"{self.name}: published by {self.origin}"}[self.kind]


def measured(name: str, x, y) -> Series:
    """Measured on this machine, in this run."""
    return Series(name, tuple(x), tuple(y), "measured")


def recorded(name: str, x, y, doc: dict) -> Series:
    """From a reference result recorded on a real GPU (`gv.reference.load(...)`)."""
    env = doc["environment"]
    return Series(name, tuple(x), tuple(y), "recorded", f"{env['device']} on {env['date'][:10]}")


def predicted(name: str, x, y, gpu: str) -> Series:
    """What the model predicts from the datasheet of `gpu`, a key of roofline.SPECS."""
    from gpuviz.roofline import SPECS

    return Series(name, tuple(x), tuple(y), "predicted", SPECS[gpu].name)


def modelled(name: str, x, y, model: str) -> Series:
    """What a model of this run predicts (`model` names it: "gv.memory.estimate"), not a datasheet's GPU."""
    return Series(name, tuple(x), tuple(y), "modelled", model)


def load_published(key: str) -> dict:
    """A published measurement kept as data: {source, device, date, what, unit, values, note}."""
    path = PUBLISHED / f"{key}.json"
    if not path.exists():
        raise FileNotFoundError(f"no published measurement {key!r}; there are: "
                                f"{', '.join(sorted(p.stem for p in PUBLISHED.glob('*.json')))}")
    return json.loads(path.read_text())


def published(name: str, x, y, doc: dict) -> Series:
    """A measurement published by others (`load_published(...)`), with its source, device and date."""
    return Series(name, tuple(x), tuple(y), "published", f"{doc['source']} ({doc['device']}, {doc['date']})")


def measured_or_recorded(name: str, x, y, doc: dict | None = None) -> Series:
    """Measured here, or recorded if `doc` is the reference (`gv.reference.load(...)`) the numbers came from."""
    return recorded(name, x, y, doc) if doc else measured(name, x, y)


def from_timings(timings, metric: str = "median", name: str | None = None, doc: dict | None = None,
                 x=None) -> Series:
    """Timings (gv.timing.Timing, one label) as a series: measured here, or recorded if `doc` is the
    reference they were loaded from. metric: "median" (seconds), "gflops" or "gbps". x: the sizes,
    unless given (an intensity, say)."""
    ts = sorted(timings, key=lambda t: t.size)
    y = [getattr(t, metric) for t in ts]
    x = [t.size for t in ts] if x is None else list(x)
    name = name or (ts[0].label if ts else "")
    return measured_or_recorded(name, x, y, doc)


# ---- figures -------------------------------------------------------------------------------------

def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def plot_lines(series, *, xlabel: str, ylabel: str, title: str = "", logx: bool = True, logy: bool = True,
               marks: dict | None = None, colors=None):
    """Each series a line in the style of its kind, labelled with its origin. marks: {text: x} drawn
    as thin vertical lines (a predicted crossover, say). colors: one per series (default: C0, C1, ...).
    With many series, or with marks (whose text a legend would hide), the legend goes below the axes.
    Returns a matplotlib Figure."""
    series = list(series)
    below = len(series) > 7 or bool(marks)
    fig = _figure((7.6, 4.6 + (0.19 * len(series) if below else 0)))
    ax = fig.add_subplot()
    draw_lines(ax, series, colors=colors)
    draw_marks(ax, marks)
    ax.set(xscale="log" if logx else "linear", yscale="log" if logy else "linear", xlabel=xlabel, ylabel=ylabel)
    ax.grid(True, which="major", alpha=0.3)
    if below:
        _legend_below(fig, ax, len(series))
    else:
        ax.legend(fontsize=8)
    ax.set_title(title, fontsize=11)
    return fig


def draw_lines(ax, series, *, colors=None, styles=None):
    """Draw each series on the axes `ax` of a figure of your own (several panels, say) in the style of
    its kind, labelled with its origin, so that its legend passes `unlabelled`. colors: one per series
    (default C0, C1, ...); styles: one dict per series (or None) that overrides the kind's style."""
    for i, s in enumerate(series):
        style = _LINE_STYLE[s.kind] | (_POINT if len(s.x) == 1 and s.kind == "predicted" else {})
        style |= (styles[i] if styles else None) or {}
        ax.plot(s.x, s.y, **({"color": colors[i] if colors else f"C{i % 10}"} | style), label=s.label)


def draw_marks(ax, marks: dict | None):
    """{text: x} as thin vertical lines with their text, outside the legend: a crossover, a model's
    gradient size. Marks say where, not what was measured, so they carry no series label."""
    for text, x in (marks or {}).items():
        ax.axvline(x, color="0.4", lw=1, ls="-.")
        ax.annotate(text, (x, 0.97), xycoords=("data", "axes fraction"), fontsize=8, color="0.3",
                    ha="left", va="top", xytext=(3, 0), textcoords="offset points")


def draw_bars(ax, series, *, fmt="{:.3g}", colors=None):
    """Horizontal bars on the axes `ax`, one group per series (its categories are `x`), each bar
    annotated with its value (fmt: a format string or a function) and each series labelled with its
    origin. Returns the y positions and the category names, for the tick labels."""
    import numpy as np

    y0, ticks, names = 0, [], []
    for i, s in enumerate(series):
        ys = y0 + np.arange(len(s.x))
        ax.barh(ys, s.y, color=colors[i] if colors else f"C{i % 10}", edgecolor="k", lw=0.5, label=s.label,
                **_BAR_STYLE[s.kind])
        for y, v in zip(ys, s.y):
            ax.text(v, y, " " + (fmt(v) if callable(fmt) else fmt.format(v)), va="center", fontsize=8)
        ticks += list(ys)
        names += [str(c) for c in s.x]
        y0 += len(s.x) + 0.6
    return ticks, names


def _legend_below(fig, ax, n_entries: int):
    """The legend under the x label, whatever the figure's height: its offset is set in inches."""
    axes_inches = fig.get_figheight() - 1.0 - 0.2 * n_entries      # what constrained layout leaves the axes
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.5 / max(axes_inches, 0.8)), frameon=False)


def plot_bars(series, *, xlabel: str, title: str = "", log: bool = False, fmt: str = "{:.3g}"):
    """Horizontal bars, one group per series (its categories are `x`), each bar annotated with its
    value, each series labelled with its origin. Returns a matplotlib Figure."""
    n = sum(len(s.x) for s in series)
    fig = _figure((7.6, max(2.6, 1.2 + 0.34 * n) + 0.2 * len(series)))
    ax = fig.add_subplot()
    ticks, names = draw_bars(ax, series, fmt=fmt)
    ax.set_yticks(ticks, names, fontsize=8)
    ax.invert_yaxis()
    ax.set(xscale="log" if log else "linear", xlabel=xlabel)
    ax.margins(x=0.2)
    _legend_below(fig, ax, len(series))      # below the axes: no bar hidden behind it
    ax.set_title(title, fontsize=11)
    return fig


def plot_roofline(intensities: dict, gpus, *, measured=(), precision: str = "fp32", title: str = ""):
    """Each GPU's roofline from its datasheet, and each kernel placed on it at its intensity
    ({kernel: FLOP/byte}, e.g. `predict.traced_intensity`): the best GFLOP/s the model allows, drawn
    as predictions. measured: Series of (intensity, GFLOP/s) measured or recorded, drawn beside them."""
    import numpy as np

    from gpuviz import predict

    lo = min([0.02, *intensities.values()]) / 2
    hi = max([200, *intensities.values()]) * 2
    xs = np.logspace(np.log10(lo), np.log10(hi), 200)
    lines, colors = [], []            # a kernel keeps its colour on every GPU; roofs are grey
    for g, gpu in enumerate(gpus):
        lines.append(predicted(f"{gpu} roofline", xs, [predict.gflops(x, gpu, precision) for x in xs], gpu=gpu))
        colors.append(f"{0.15 + 0.35 * g:.2f}")
        for k, (name, i) in enumerate(intensities.items()):
            lines.append(predicted(f"{name} on the {gpu}", [i], [predict.gflops(i, gpu, precision)], gpu=gpu))
            colors.append(f"C{k % 10}")
    colors += [f"C{(len(intensities) + k) % 10}" for k in range(len(measured))]
    return plot_lines([*lines, *measured], xlabel="arithmetic intensity (FLOP per byte moved from global memory)",
                      ylabel="GFLOP/s", title=title or f"Roofline, {precision.upper()}", colors=colors)


def unlabelled(fig) -> list[str]:
    """Legend entries of `fig` that do not say where their numbers come from (empty: all honest)."""
    out = []
    for ax in fig.axes:
        handles, labels = ax.get_legend_handles_labels()
        out += [label for label in labels if not LABEL_RE.search(label)]
    return out
