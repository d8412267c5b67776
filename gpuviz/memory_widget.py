"""Notebook 10's views of training memory: an estimator (pure figure + a thin ipywidgets wrapper with
sliders for batch size, model width and dtype) and the comparison of memory remedies.

    fig = plot_fit(gv.memory.estimate(model, (1, 28, 28), batch_size=256))     # static
    EstimatorWidget(make_model, (1, 28, 28))                                    # sliders

The estimate itself is `gpuviz.memory.estimate` (forward hooks on a meta-device copy: instant, any
size). The widget draws through `gpuviz.widgets.show` (ipywidgets 7.7.1 and 8).
"""
from __future__ import annotations

CAPACITIES_GIB = {"T4": 16, "L4 / A10 / RTX 4090": 24, "A100 40GB": 40, "A100/H100 80GB": 80}
DTYPES = ("float32", "bfloat16", "float16")


def plot_fit(est, capacities: dict | None = None, title: str | None = None):
    """One horizontal stacked bar of an Estimate's parts (GiB) with vertical lines at GPU memory
    capacities; red title when the estimate exceeds the smallest capacity shown. Returns a Figure."""
    from matplotlib.figure import Figure

    from gpuviz.memory import COLORS, PART_LABELS, PARTS, fmt_bytes

    caps = CAPACITIES_GIB if capacities is None else capacities
    fig = Figure(figsize=(8, 3.0), layout="constrained")
    ax = fig.add_subplot()
    left = 0.0
    vals = [(PART_LABELS[k], getattr(est, k), COLORS[k]) for k in PARTS] + [("input batch", est.inputs, "#8172b3")]
    for name, v, c in vals:
        ax.barh(0, v / 2**30, left=left, color=c, label=f"{name}: {fmt_bytes(v)}", height=0.5)
        left += v / 2**30
    total = est.total / 2**30
    for i, (name, gib) in enumerate(caps.items()):
        ax.axvline(gib, color="k", lw=1, ls=(0, (4, 2 + i)))
        ax.text(gib, 0.42 - 0.12 * (i % 2), f" {name}: {gib} GB", fontsize=7, va="bottom")
    ax.set_xlim(0, max([total * 1.15, *[g * 1.25 for g in caps.values()]] or [1]))
    ax.set_ylim(-0.4, 0.75)
    ax.set_yticks([])
    ax.set_xlabel("GiB (estimate)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, frameon=False)
    fits = [n for n, g in caps.items() if est.total <= g * 2**30]
    ax.set_title(title or (f"batch {est.batch_size}, {est.optimizer_name}: {fmt_bytes(est.total)}, "
                           + (f"fits: {', '.join(fits)}" if fits else "fits none of these GPUs")),
                 fontsize=9, color="k" if fits else "C3")
    return fig


class EstimatorWidget:
    """Sliders for batch size and model width, dropdowns for dtype and optimizer; redraws `plot_fit`
    of `gv.memory.estimate(make_model(width), input_shape, ...)` on every change.
    `.figure()` is the static fallback (the current settings)."""

    def __init__(self, make_model, input_shape, *, widths=(8, 16, 32, 64, 128, 256),
                 batch_sizes=(16, 64, 256, 1024, 4096, 16384, 65536), width=None, batch_size=None,
                 dtype="float32", optimizer="adam", capacities=None):
        import ipywidgets as w

        self.make_model, self.input_shape, self.capacities = make_model, tuple(input_shape), capacities
        self.width = w.SelectionSlider(options=list(widths), value=width or widths[len(widths) // 2],
                                       description="width")
        self.batch = w.SelectionSlider(options=list(batch_sizes), value=batch_size or batch_sizes[len(batch_sizes) // 2],
                                       description="batch size")
        self.dtype = w.Dropdown(options=list(DTYPES), value=dtype, description="dtype")
        self.optimizer = w.Dropdown(options=["sgd", "sgd_momentum", "adam"], value=optimizer, description="optimizer")
        self.out = w.Output()
        for c in (self.width, self.batch, self.dtype, self.optimizer):
            c.observe(lambda change: self.redraw(), names="value")
        self.box = w.VBox([w.HBox([self.width, self.batch]), w.HBox([self.dtype, self.optimizer]), self.out])
        self.redraw()

    def estimate(self):
        import torch

        from gpuviz.memory import estimate

        return estimate(self.make_model(self.width.value), self.input_shape, batch_size=self.batch.value,
                        dtype=getattr(torch, self.dtype.value), optimizer=self.optimizer.value)

    def figure(self):
        return plot_fit(self.estimate(), self.capacities)

    def redraw(self) -> None:
        from gpuviz.widgets import show

        show(self.out, self.figure(), dpi=80)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.box)


def plot_remedies(rows: list[dict], title: str | None = None):
    """Bars side by side for each way of training the same batch: memory (left) and time per step
    (right). rows: {"name", "bytes", "seconds", "memory_label", "time_label"}; a None value is drawn
    as 'not measured here'. Returns a Figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.5, 0.9 + 0.45 * len(rows)), layout="constrained")
    ax, ax2 = fig.subplots(1, 2, sharey=True)
    names = [r["name"] for r in rows]
    y = list(range(len(rows)))
    for a, key, scale, unit, color in ((ax, "bytes", 2**20, "MiB", "C0"), (ax2, "seconds", 1e-3, "ms", "C1")):
        vals = [r[key] for r in rows]
        a.barh(y, [0 if v is None else v / scale for v in vals], color=color)
        for i, v in enumerate(vals):
            a.text(0 if v is None else v / scale, i, " not measured here" if v is None else f" {v / scale:,.2f}",
                   va="center", fontsize=8)
        a.margins(x=0.35)
        label = next((r.get(f"{'memory' if key == 'bytes' else 'time'}_label") for r in rows), "") or ""
        a.set_xlabel(f"{unit}{': ' + label if label else ''}", fontsize=8)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    fig.suptitle(title or "the same batch, trained four ways", fontsize=9)
    return fig
