"""Thin ipywidgets wrappers around gpuviz.views: sliders and selectors that redraw the figure.

Each function returns a VBox whose `.figure` is the current matplotlib Figure (the static fallback),
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


def show(out, fig, dpi=90):
    """Make the ipywidgets Output `out` show `fig` (a matplotlib Figure) as a PNG, replacing what it showed.

    One assignment to `out.outputs`, so the page redraws once, in JupyterLab 4 and on Colab alike.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    png = base64.b64encode(buf.getvalue()).decode("ascii")
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


def launch_widget(shape=(40,), block=16, grid=None, static=False):
    """Launch map with sliders for the block size and the grid size (blocks per dimension)."""
    import ipywidgets as w

    one_d = len(shape) == 1
    grid = grid or math.ceil(shape[-1] / block)
    controls = {"block": _slider("block" if one_d else "block side", block, 1, 64 if one_d else 16),
                "grid": _slider("grid", grid, 1, max(2 * grid, 8)),
                "color": w.Dropdown(options=["warp", "block"], value="warp", description="colour")}

    def draw(block, grid, color):
        bdim, gdim = (block, grid) if one_d else ((block, block), (grid, math.ceil(shape[0] / block)))
        return views.launch_map(tuple(shape), gdim, bdim, color=color)
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
