"""Every gpuviz widget built on small inputs, and a driver that changes each of its controls.

Shared by tests/test_colab.py (run as a script under Colab's ipywidgets 7.7.1) and tests/test_browser.py
(one widget per cell of a scratch notebook, in JupyterLab 4 with ipywidgets 8, in a real browser).
Widgets are found by name (every public `*_widget` function of gpuviz.widgets): a new widget that can be
built with its defaults is covered at once; one that needs arguments needs a recipe in RECIPES.

As a script: builds every widget, changes every control, asserts each redraw, prints one line each.
"""
from __future__ import annotations

import inspect
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))   # kernels_bank, when run from elsewhere


def _stencil_trace():
    import kernels_bank as K

    from gpuviz.tracer.scheduler import trace

    return trace(K.stencil_guarded, 2, 16, np.arange(32, dtype=np.float32), np.zeros(32, np.float32))


def _transpose_trace():
    import kernels_bank as K

    from gpuviz.tracer.scheduler import trace

    a = np.arange(256, dtype=np.float32).reshape(16, 16)
    return trace(K.transpose_tiled, (2, 2), (8, 8), a, np.zeros_like(a))


def _w():
    from gpuviz import widgets

    return widgets


def _mlp(width):
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, width), torch.nn.ReLU(),
                               torch.nn.Linear(width, 10))


def _estimator():
    return _w().EstimatorWidget(_mlp, (1, 28, 28))


# widget name -> ways to build it; the first control of each is its main control
RECIPES = {
    "launch_widget": [lambda: _w().launch_widget((40,), blockdim=16), lambda: _w().launch_widget((6, 9), blockdim=4)],
    "tile_walk_widget": [lambda: _w().tile_walk_widget(64, 16)],
    "access_widget": [lambda: _w().access_widget(_stencil_trace(), "a")],
    "coalescing_widget": [lambda: _w().coalescing_widget(),
                          lambda: _w().coalescing_widget(_transpose_trace(), "a")],
    "bank_widget": [lambda: _w().bank_widget(), lambda: _w().bank_widget(_transpose_trace(), "tile")],
    # widgets that are classes (with more state than one figure)
    "EstimatorWidget": [_estimator],
}
CLASSES = ["EstimatorWidget"]


def widget_names() -> list[str]:
    w = _w()
    found = sorted(n for n, f in inspect.getmembers(w, inspect.isfunction)
                   if n.endswith("_widget") and not n.startswith("_") and f.__module__ == w.__name__)
    return found + CLASSES


def variants() -> list[tuple[str, int]]:
    """(widget name, recipe index) for every way every widget is built."""
    return [(n, i) for n in widget_names() for i in range(len(RECIPES.get(n, [None])))]


def build(name: str, i: int = 0):
    """The widget, as the object a notebook cell would end with."""
    recipes = RECIPES.get(name)
    return recipes[i]() if recipes else getattr(_w(), name)()


def parts(widget):
    """(controls in order, the Output that shows the picture) of a built widget."""
    import ipywidgets as widgets

    if hasattr(widget, "controls"):                       # gpuviz.widgets: a VBox with .controls, .figure
        outs = [c for c in widget.children if isinstance(c, widgets.Output)]
        assert len(outs) == 1, f"expected one Output in the widget, found {len(outs)}"
        return dict(widget.controls), outs[0]
    controls = {k: v for k, v in vars(widget).items()        # a class holding its controls as attributes
                if isinstance(v, widgets.ValueWidget) and not isinstance(v, widgets.Output)}
    return controls, widget.out


def _another_value(c):
    """A different legal value for control `c`, or None when it has only one."""
    import ipywidgets as widgets

    if isinstance(c, (widgets.IntSlider, widgets.FloatSlider, widgets.BoundedIntText, widgets.BoundedFloatText)):
        if c.min == c.max:
            return None
        return c.max if c.value != c.max else c.min
    if isinstance(c, widgets.Checkbox):
        return not c.value
    if hasattr(c, "options"):                       # Dropdown, SelectionSlider, ToggleButtons, Select ...
        values = [o[1] if isinstance(o, tuple) else o for o in c.options]
        others = [v for v in values if v != c.value]
        return others[-1] if others else None
    raise AssertionError(f"widget_gallery does not know how to move a {type(c).__name__}")


def _png(out):
    assert len(out.outputs) == 1, f"the Output holds {len(out.outputs)} pictures (expected one)"
    png = out.outputs[0].get("data", {}).get("image/png")
    assert png, "the Output shows no PNG picture"
    return png


def exercise(widget) -> int:
    """Change every control of `widget` in turn; each change must redraw. Returns the number of changes.

    After each change the Output holds exactly one picture; the main (first) control must change it.
    gpuviz.widgets boxes must also replace their `.figure`.
    """
    from matplotlib.figure import Figure

    controls, out = parts(widget)
    _png(out)
    changes = 0
    for k, (name, c) in enumerate(controls.items()):
        new = _another_value(c)
        if new is None:
            continue
        fig, png = getattr(widget, "figure", None), _png(out)
        c.value = new
        now = _png(out)
        if isinstance(fig, Figure):
            assert widget.figure is not fig and isinstance(widget.figure, Figure), f"{name}: no redraw"
        if k == 0:
            assert now != png, f"{name}: the main control did not change the picture"
        changes += 1
    assert changes, "no control could be changed"
    return changes


def main() -> int:
    import ipywidgets

    t0 = time.perf_counter()
    total = 0
    for name, i in variants():
        n = exercise(build(name, i))
        total += n
        print(f"ok {name}[{i}]: {n} controls changed, each redrew")
    print(f"ipywidgets {ipywidgets.__version__}: {len(variants())} widgets, {total} changes, "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
