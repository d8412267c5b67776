"""Every view renders, for 1D and 2D cases, from a trace or from a bare configuration."""
import kernels_bank as K
import numpy as np
import pytest
from matplotlib.figure import Figure

from gpuviz import views
from gpuviz.tracer.scheduler import trace


def rendered(fig):
    assert isinstance(fig, Figure)
    fig.canvas.draw()                 # lays out and rasterizes: catches errors deferred to drawing
    assert all(ax.get_title() or ax.get_xlabel() for ax in fig.axes if ax.get_label() != "<colorbar>")
    return fig


@pytest.fixture(scope="module")
def swapped():
    return trace(K.scale_swapped, (1, 1), (8, 8), np.ones((3, 5), np.float32), np.zeros((3, 5), np.float32))


@pytest.fixture(scope="module")
def transposed():
    a = np.arange(16 * 16, dtype=np.float32).reshape(16, 16)
    return trace(K.transpose_tiled, (2, 2), (8, 8), a, np.zeros_like(a))


def test_launch_map_1d_counts_idle_threads():
    fig = rendered(views.launch_map((40,), None, 16))
    assert "8 idle" in fig.axes[0].get_title()


def test_launch_map_2d_and_from_trace(swapped):
    fig = rendered(views.launch_map((10, 13), (2, 3), (8, 4)))
    assert "62 idle" in fig.axes[0].get_title()          # 2*3*32 threads for 130 elements
    fig = rendered(views.launch_map(swapped, array="out"))
    assert "55 of 64 threads wrote nothing" in fig.axes[0].get_title()


def test_access_heatmap_2d_shows_out_of_bounds(swapped):
    fig = rendered(views.access_heatmap(swapped, "out"))
    # the canvas grows to take in out[3,0] .. out[4,2], outside the 3x5 array
    assert fig.axes[0].images[0].get_array().shape == (5, 5)


def test_access_heatmap_1d_and_one_thread():
    t = trace(K.stencil_no_left_guard, 1, 16, np.arange(16, dtype=np.float32), np.zeros(16, np.float32))
    rendered(views.access_heatmap(t, "a"))
    fig = rendered(views.access_heatmap(t, "a", thread=3))
    reads = fig.axes[0].images[0].get_array()
    assert np.nansum(reads) == 3 and "thread 3" in fig._suptitle.get_text()


def test_tile_walk():
    fig = rendered(views.tile_walk(64, 16, 2, (1, 3)))
    assert "A: tile (3,2)" in fig.axes[0].get_title() and "B: tile (2,1)" in fig.axes[1].get_title()
    with pytest.raises(ValueError):
        views.tile_walk(64, 16, 4)


def test_coalescing_view_bare_and_traced(transposed):
    fig = rendered(views.coalescing_view(np.arange(32) * 32))
    assert "32 sector(s); 4 would do" in fig.axes[0].get_title()
    fig = rendered(views.coalescing_view(transposed, "a", warp=1))
    assert "efficiency 100%" in fig.axes[0].get_title()


def test_bank_view_bare_and_traced(transposed):
    fig = rendered(views.bank_view(np.arange(32) * 32))
    assert "32-way" in fig._suptitle.get_text()
    fig = rendered(views.bank_view(np.arange(32)))
    assert "1-way" in fig._suptitle.get_text()
    rendered(views.bank_view(transposed, "tile", k=1))


def test_launch_map_flags_elements_without_a_thread():
    from gpuviz import views

    short = views.launch_map((100,), 3, 32).axes[0].get_title()
    assert "4 element(s) have NO thread" in short
    assert "NO thread" not in views.launch_map((100,), 4, 32).axes[0].get_title()
