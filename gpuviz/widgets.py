"""Every widget of the course, and the one way a figure becomes a PNG on the page.

Two ways to redraw, one per need:
- controls (sliders, dropdowns) redraw into an ipywidgets Output with `show(out, fig)`;
- a loop (training, a tracker) redraws a `LiveFigure` in place through an IPython display handle, which
  needs no ipywidgets at all, so it works on Colab and under nbval alike.
Both encode the figure with `png_bytes`. The figures themselves are pure functions elsewhere (views,
training, memory): data in, Figure out.

The view widgets below return a VBox whose `.figure` is the current matplotlib Figure (the static fallback),
or, with static=True, just that Figure. Only APIs common to ipywidgets 7.7.1 (Colab) and 8 are used:
the figure goes into an Output as a PNG with `show(out, fig)`, which replaces the Output's content in
one update. (Not clear_output(wait=True) + append_display_data: the clear is only a message to the
page, the kernel's copy of the outputs keeps growing, and JupyterLab then shows every old picture
above the new one; the real-browser test tests/test_browser.py catches this.)
"""
from __future__ import annotations

import base64
import io
import math

import numpy as np

from . import views


def png_bytes(fig, dpi: int = 90) -> bytes:
    """A matplotlib Figure as PNG bytes: the only encoder of the course's live and interactive figures."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def show(out, fig, dpi=90):
    """Make the ipywidgets Output `out` show `fig` (a matplotlib Figure) as a PNG, replacing what it showed.

    One assignment to `out.outputs`, so the page redraws once, in JupyterLab 4 and on Colab alike.
    """
    png = base64.b64encode(png_bytes(fig, dpi)).decode("ascii")
    w, h = fig.get_size_inches()
    out.outputs = ({"output_type": "display_data", "metadata": {},
                    "data": {"image/png": png, "text/plain": f"<Figure size {w * dpi:.0f}x{h * dpi:.0f}>"}},)


def _interactive(controls: dict, draw, static: bool):
    """A VBox of `controls` over an Output that shows draw(**values) and redraws on every change."""
    import ipywidgets as w

    if static:
        return draw(**{k: c.value for k, c in controls.items()})
    out = w.Output()
    box = w.VBox([w.HBox(list(controls.values())), out])

    def redraw(change=None):
        box.figure = draw(**{k: c.value for k, c in controls.items()})
        show(out, box.figure)

    for c in controls.values():
        c.observe(redraw, names="value")
    box.controls = controls
    redraw()
    return box


def _slider(label, value, lo, hi, step=1):
    import ipywidgets as w

    return w.IntSlider(value=value, min=lo, max=hi, step=step, description=label, continuous_update=False)


def launch_widget(shape=(40,), blockdim=16, griddim=None, static=False):
    """The launch map of `kernel[griddim, blockdim]` over data of `shape`, with sliders for the block size
    (blockDim, threads per block; square blocks in 2D) and the grid size (gridDim, blocks along x), and
    in 1D one for n, the data's length."""
    import ipywidgets as w

    one_d = len(shape) == 1
    griddim = griddim or math.ceil(shape[-1] / blockdim)
    controls = {"blockdim": _slider("blockDim" if one_d else "blockDim (side)", blockdim, 1, 64 if one_d else 16),
                "griddim": _slider("gridDim", griddim, 1, max(2 * griddim, 12)),
                "color": w.Dropdown(options=["warp", "block"], value="warp", description="colour")}
    if one_d:
        controls = {"n": _slider("n", shape[0], 1, max(100, shape[0])), **controls}

    def draw(blockdim, griddim, color, n=None):
        if one_d:
            return views.launch_map((n,), griddim, blockdim, color=color)
        return views.launch_map(tuple(shape), (griddim, math.ceil(shape[0] / blockdim)), (blockdim, blockdim),
                                color=color)
    return _interactive(controls, draw, static)


def tile_walk_widget(n=64, tile=16, static=False):
    """The tiled-matmul tile walk with sliders for the step k and the block (bx, by)."""
    nt = math.ceil(n / tile)
    controls = {"k": _slider("step k", 0, 0, nt - 1), "bx": _slider("block x", 0, 0, nt - 1),
                "by": _slider("block y", 0, 0, nt - 1)}
    return _interactive(controls, lambda k, bx, by: views.tile_walk(n, tile, k, (bx, by)), static)


def access_widget(trace, array, static=False):
    """Access heatmap of one array, for all threads or for one selected thread or warp of a block."""
    import ipywidgets as w

    tpb = trace.threads_per_block
    controls = {"who": w.Dropdown(options=["all", "thread", "warp"], value="all", description="who"),
                "index": _slider("thread/warp", 0, 0, tpb - 1),
                "block": _slider("block", 0, 0, trace.nblocks - 1)}

    def draw(who, index, block):
        if who == "all":
            return views.access_heatmap(trace, array)
        if who == "warp":
            return views.access_heatmap(trace, array, block=block, warp=min(index, (tpb - 1) // 32))
        return views.access_heatmap(trace, array, block=block, thread=index)
    return _interactive(controls, draw, static)


def coalescing_widget(trace=None, array=None, static=False):
    """One warp's sectors: from a trace (sliders for warp and request), or for `a[offset + lane*stride]`."""
    if trace is None:
        controls = {"stride": _slider("stride", 1, 1, 64), "offset": _slider("offset", 0, 0, 31)}
        return _interactive(controls, lambda stride, offset: views.coalescing_view(
            offset + np.arange(32) * stride), static)
    return _warp_widget(views.coalescing_view, trace, array, static)


def bank_widget(trace=None, array=None, static=False):
    """One warp's shared-memory banks: from a trace, or for `s[lane*stride]` with a stride slider."""
    if trace is None:
        controls = {"stride": _slider("stride", 1, 1, 64)}
        return _interactive(controls, lambda stride: views.bank_view(np.arange(32) * stride), static)
    return _warp_widget(views.bank_view, trace, array, static)


def _warp_widget(view, trace, array, static):
    count = trace.warp_request(array)["count"]
    controls = {"warp": _slider("warp", 0, 0, max(0, math.ceil(trace.threads_per_block / 32) - 1)),
                "k": _slider("request", 0, 0, count - 1),
                "block": _slider("block", 0, 0, trace.nblocks - 1)}
    return _interactive(controls, lambda warp, k, block: view(trace, array, block=block, warp=warp, k=k),
                        static)


# ---- live figures (loops) -------------------------------------------------------------------------

class LiveFigure:
    """Show `draw(*args)` once, then replace it in place on every `update(*args)`.

        live = gv.widgets.LiveFigure(gv.training.plot_curves)
        for epoch in ...: live.update(history)

    `figure` is the last Figure drawn (the static result, e.g. to end a cell with)."""

    def __init__(self, draw, **kw):
        self.draw, self.kw = draw, kw
        self.handle = None
        self.figure = None

    def update(self, *args):
        self.figure = self.draw(*args, **self.kw)
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return self.figure
        if getattr(get_ipython(), "kernel", None) is None:      # not in a notebook: nothing to update
            return self.figure
        from IPython.display import Image

        image = Image(data=png_bytes(self.figure, dpi=80), format="png")
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)
        return self.figure


class MemoryView:
    """The memory timeline of a `gv.memory.Tracker`, redrawn every `every` steps as it records.
    Show it as a cell's value; it then updates in place from whichever cell trains.
    `.figure()` is the static result."""

    def __init__(self, tracker, every: int = 10):
        self.tracker, self.every = tracker, max(1, int(every))
        self.live = LiveFigure(tracker.figure)
        tracker.on_sample(self._on_sample)

    def _on_sample(self, s) -> None:
        if self.live.handle is not None and s.phase == "step" and s.step % self.every == 0:
            self.live.update()

    def figure(self):
        return self.tracker.figure()

    def _ipython_display_(self):
        self.live.update()


# ---- the memory estimator (notebook 10) -------------------------------------------------------------

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
        from gpuviz.memory import DTYPES

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
        from gpuviz.memory import plot_fit

        return plot_fit(self.estimate(), self.capacities)

    def redraw(self) -> None:
        show(self.out, self.figure(), dpi=80)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.box)
