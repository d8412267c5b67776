"""Widgets build, keep a static Figure at hand, and redraw when a control changes."""
import kernels_bank as K
import numpy as np
from matplotlib.figure import Figure

from gpuviz import widgets
from gpuviz.tracer.scheduler import trace


def change(box, name, value):
    before = box.figure
    box.controls[name].value = value
    assert box.figure is not before and isinstance(box.figure, Figure)
    assert box.children[1].outputs[-1]["data"]["image/png"]          # the new picture is shown
    return box.figure


def test_launch_widget_block_and_grid():
    box = widgets.launch_widget((40,), blockdim=16)
    assert "3 blocks of 16" in box.figure.axes[0].get_title()
    assert "3 blocks of 8 threads" in change(box, "blockdim", 8).axes[0].get_title()   # grid slider unchanged
    assert "4 blocks" in change(box, "griddim", 4).axes[0].get_title()
    assert "over 70 elements" in change(box, "n", 70).axes[0].get_title()
    assert isinstance(widgets.launch_widget((6, 9), blockdim=4, static=True), Figure)


def test_tile_walk_widget_step():
    box = widgets.tile_walk_widget(64, 16)
    assert "step k=2" in change(box, "k", 2)._suptitle.get_text()


def test_access_widget_thread_selector():
    t = trace(K.stencil_guarded, 2, 16, np.arange(32, dtype=np.float32), np.zeros(32, np.float32))
    box = widgets.access_widget(t, "a")
    change(box, "who", "thread")
    assert "thread 5" in change(box, "index", 5)._suptitle.get_text()


def test_coalescing_and_bank_widgets():
    box = widgets.coalescing_widget()
    assert "efficiency 25%" in change(box, "stride", 4).axes[0].get_title()
    box = widgets.bank_widget()
    assert "2-way" in change(box, "stride", 2)._suptitle.get_text()
    a = np.arange(256, dtype=np.float32).reshape(16, 16)
    t = trace(K.transpose_tiled, (2, 2), (8, 8), a, np.zeros_like(a))
    change(widgets.bank_widget(t, "tile"), "k", 1)
    change(widgets.coalescing_widget(t, "a"), "warp", 1)
