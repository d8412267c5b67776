"""Pictures of what threads do: launch maps, access heatmaps, the tiled-matmul tile walk, warp
coalescing and shared-memory banks. Pure functions: data in, a matplotlib Figure out (built without
pyplot, so nothing is shown twice and no global state is touched).
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from gpuviz.launch import BANKS, SECTOR_BYTES, WARP_SIZE, WORD_BYTES
_IDLE = {"facecolor": "0.92", "edgecolor": "0.55", "hatch": "//", "linewidth": 0}
_MISSED = {"facecolor": "white", "edgecolor": "#d62728", "hatch": "xx", "linewidth": 0}


def _dims(d, n):
    d = tuple(d) if isinstance(d, (tuple, list)) else (d,)
    return d + (1,) * (n - len(d))


def _figure(ncols=1, width=None, height=3.6):
    fig = Figure(figsize=(width or 5.5 * ncols, height), layout="constrained")
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def _palette(n):
    base = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
            "#9c755f", "#bab0ac"]
    return ListedColormap([base[i % len(base)] for i in range(max(n, 1))])


def _grid_lines(ax, rows, cols, step_r, step_c, **kw):
    style = {"color": "k", "linewidth": 1.6} | kw
    for c in range(0, cols + 1, step_c):
        ax.axvline(c - 0.5, **style)
    for r in range(0, rows + 1, step_r):
        ax.axhline(r - 0.5, **style)


# ---- launch map ------------------------------------------------------------------------------------

def launch_map(data, griddim=None, blockdim=None, *, array=None, color="warp") -> Figure:
    """Which block and thread own which element, coloured by warp (or block); idle threads hatched.

    `data` is a shape ((n,) or (rows, cols)) with griddim and blockdim, with x along the columns
    (`col, row = cuda.grid(2)`); or a Trace, whose owners are the threads that wrote `array`.
    """
    if hasattr(data, "owners"):
        return _launch_map_trace(data, array, color)
    shape = (1,) + tuple(data) if len(data) == 1 else tuple(data)
    one_d = len(data) == 1
    bx, by = _dims(blockdim, 2)[:2]
    if griddim is None:
        griddim = (math.ceil(shape[1] / bx), math.ceil(shape[0] / by))
    gx, gy = _dims(griddim, 2)[:2]
    rows, cols = max(shape[0], gy * by), max(shape[1], gx * bx)
    r, c = np.mgrid[0:rows, 0:cols]
    covered = (r < gy * by) & (c < gx * bx)
    block = (c // bx) + gx * (r // by)
    warp = ((c % bx) + bx * (r % by)) // WARP_SIZE
    wpb = math.ceil(bx * by / WARP_SIZE)
    ids = np.where(covered, block * wpb + warp if color == "warp" else block, -1).astype(float)
    ids[~covered] = np.nan
    n_ids = int(np.nanmax(ids)) + 1
    fig, (ax,) = _figure(width=min(14, 2.5 + 0.32 * cols), height=1.9 if one_d else min(9, 1.8 + 0.32 * rows))
    ax.imshow(ids, cmap=_palette(n_ids), vmin=-0.5, vmax=n_ids - 0.5, aspect="auto" if one_d else "equal",
              interpolation="nearest")
    idle = covered & ~((r < shape[0]) & (c < shape[1]))
    for rr, cc in zip(*np.nonzero(idle)):
        ax.add_patch(Rectangle((cc - 0.5, rr - 0.5), 1, 1, **_IDLE))
    missed = ~covered & (r < shape[0]) & (c < shape[1])
    for rr, cc in zip(*np.nonzero(missed)):
        ax.add_patch(Rectangle((cc - 0.5, rr - 0.5), 1, 1, **_MISSED))
    _grid_lines(ax, gy * by, gx * bx, by, bx)
    ax.add_patch(Rectangle((-0.5, -0.5), shape[1], shape[0], fill=False, edgecolor="#d62728", linewidth=2.5))
    if rows * cols <= 256:
        for rr, cc in zip(*np.nonzero(covered)):
            t = f"{cc % bx}" if one_d else f"{cc % bx},{rr % by}"
            ax.text(cc, rr, t, ha="center", va="center", fontsize=7 if one_d else 6)
    n_idle = int(idle.sum())
    what = "warp" if color == "warp" else "block"
    ax.set_title(f"launch map: grid {gx}x{gy} of blocks {bx}x{by} over data {shape[0]}x{shape[1]}"
                 if not one_d else f"launch map: {gx} blocks of {bx} threads over {shape[1]} elements"
                 f"\n{n_idle} idle thread(s): the guard `if i < n` keeps them out", fontsize=10)
    if not one_d:
        ax.set_title(ax.get_title() + f"\n{n_idle} idle thread(s) (hatched): the guard keeps them out",
                     fontsize=10)
    if missed.any():
        ax.set_title(ax.get_title() + f"\n{int(missed.sum())} element(s) have NO thread (crossed): "
                     "the grid is too small", fontsize=10, color="#d62728")
    ax.set_xlabel("column (x: threadIdx.x + blockIdx.x * blockDim.x)" if not one_d else
                  "element i = cuda.grid(1) (labels: threadIdx.x)")
    ax.set_ylabel("row (y)" if not one_d else "")
    if one_d:
        ax.set_yticks([])
    ax.legend(handles=[Patch(color=_palette(n_ids)(i), label=f"{what} {i}") for i in range(min(n_ids, 6))]
              + [Patch(label="idle thread", **_IDLE)]
              + ([Patch(label="no thread", **_MISSED)] if missed.any() else [])
              + [Patch(fill=False, edgecolor="#d62728", linewidth=2, label="the data")],
              loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title=f"colour = {what}")
    return fig


def _launch_map_trace(tr, array, color):
    array = array or next(n for n, b in tr.arrays.items() if b.space == "global" and tr.counts(n, "write").any())
    owner = tr.owners(array).astype(float)
    shape = owner.shape
    grid2 = owner.reshape(1, -1) if owner.ndim == 1 else owner.reshape(shape[0], -1)
    tpb = tr.threads_per_block
    ids = np.where(grid2 < 0, np.nan, (grid2 // tpb) * math.ceil(tpb / WARP_SIZE) + (grid2 % tpb) // WARP_SIZE
                   if color == "warp" else grid2 // tpb)
    n_ids = int(np.nanmax(ids)) + 1 if np.isfinite(ids).any() else 1
    writers = np.unique(grid2[grid2 >= 0]).size
    total = tr.nblocks * tpb
    fig, (ax,) = _figure(width=min(14, 2.5 + 0.32 * grid2.shape[1]),
                         height=1.9 if owner.ndim == 1 else min(9, 1.8 + 0.32 * grid2.shape[0]))
    ax.imshow(ids, cmap=_palette(n_ids), vmin=-0.5, vmax=n_ids - 0.5, interpolation="nearest",
              aspect="auto" if owner.ndim == 1 else "equal")
    for rr, cc in zip(*np.nonzero(grid2 < 0)):
        ax.add_patch(Rectangle((cc - 0.5, rr - 0.5), 1, 1, facecolor="white", edgecolor="0.7"))
    ax.set_title(f"{tr.name}: who wrote each element of {array}\n{total - writers} of {total} threads wrote "
                 f"nothing (idle); white cells: written by no thread", fontsize=10)
    ax.set_xlabel("column" if owner.ndim > 1 else "element")
    ax.set_ylabel("row" if owner.ndim > 1 else "")
    what = "warp" if color == "warp" else "block"
    ax.legend(handles=[Patch(color=_palette(n_ids)(i), label=f"{what} {i}") for i in range(min(n_ids, 6))],
              loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title=f"colour = {what}")
    return fig


# ---- access heatmap --------------------------------------------------------------------------------

def access_heatmap(tr, array, *, block=None, thread=None, warp=None) -> Figure:
    """Reads and writes of each element of `array` (all threads, or one block / thread / warp), with
    racing cells crossed, wrapped negative indices circled and out-of-bounds accesses outside the frame."""
    shape = tr.arrays[array].shape
    as2d = (lambda a: a.reshape(1, -1)) if len(shape) == 1 else (lambda a: a.reshape(shape[0], -1))
    oob = np.array(sorted(tr.marks.get(("out_of_bounds", array), ())), int).reshape(-1, len(shape))
    oob2 = np.c_[np.zeros(len(oob), int), oob] if len(shape) == 1 else oob[:, :2]
    rows, cols = as2d(np.zeros(shape)).shape
    rows = max(rows, int(oob2[:, 0].max(initial=-1)) + 1)
    cols = max(cols, int(oob2[:, 1].max(initial=-1)) + 1)
    who = "all threads" if thread is None and warp is None and block is None else \
        ", ".join(f"{k} {v}" for k, v in (("block", block), ("thread", thread), ("warp", warp)) if v is not None)
    fig, axes = _figure(2, width=min(15, max(10, 3 + 0.6 * cols)),
                        height=3.2 if len(shape) == 1 else min(8, max(3.8, 2 + 0.35 * rows)))
    races = tr.marks.get(("race", array), set())
    wraps = tr.marks.get(("negative_index", array), set())
    for ax, ops, title, cmap in ((axes[0], ("read",), "reads", "Blues"), (axes[1], ("write", "atomic"),
                                                                          "writes + atomics", "Oranges")):
        c = sum(tr.counts(array, op, block=block, thread=thread, warp=warp) for op in ops)
        canvas = np.zeros((rows, cols))
        canvas[:] = np.nan
        c2 = as2d(c)
        canvas[:c2.shape[0], :c2.shape[1]] = c2
        im = ax.imshow(canvas, cmap=cmap, vmin=0, vmax=max(1, np.nanmax(canvas)), interpolation="nearest",
                       aspect="auto" if len(shape) == 1 else "equal")
        fig.colorbar(im, ax=ax, shrink=0.8, label="accesses")
        ax.add_patch(Rectangle((-0.5, -0.5), c2.shape[1], c2.shape[0], fill=False, edgecolor="k", linewidth=2))
        for f in races:
            r, cc = divmod(f, c2.shape[1])
            ax.plot(cc, r, "x", color="#d62728", markersize=9, markeredgewidth=2)
        for f in wraps:
            r, cc = divmod(f, c2.shape[1])
            ax.plot(cc, r, "o", mfc="none", color="#9467bd", markersize=11, markeredgewidth=2)
        for r, cc in oob2:
            ax.add_patch(Rectangle((cc - 0.5, r - 0.5), 1, 1, facecolor="#d62728", alpha=0.5, hatch="xx"))
        ax.set_title(title, fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("column" if len(shape) > 1 else "index")
        ax.set_ylabel("row" if len(shape) > 1 else "")
        if len(shape) == 1:
            ax.set_yticks([])
    fig.legend(handles=[
        Patch(fill=False, edgecolor="k", linewidth=2, label=f"{array} {'x'.join(map(str, shape))}"),
        Line2D([], [], ls="", marker="x", color="#d62728", markeredgewidth=2, label="race"),
        Line2D([], [], ls="", marker="o", mfc="none", color="#9467bd", markeredgewidth=2,
               label="negative index (wrapped)"),
        Patch(facecolor="#d62728", alpha=0.5, hatch="xx", label="out of bounds (skipped)")],
        loc="outside lower center", ncols=4, fontsize=8)
    fig.suptitle(f"{tr.name}: accesses to {array} by {who}", fontsize=11)
    return fig


# ---- tiled matmul tile walk -------------------------------------------------------------------------

def tile_walk(n: int, tile: int, k: int, block=(0, 0)) -> Figure:
    """Step k of a shared-memory tiled matmul C = A @ B (n x n, tile x tile blocks): block (bx, by)
    computes C's tile at row by, column bx; at step k it holds A's tile (by, k) and B's tile (k, bx)."""
    nt = math.ceil(n / tile)
    bx, by = block
    if not (0 <= k < nt and 0 <= bx < nt and 0 <= by < nt):
        raise ValueError(f"with {nt}x{nt} tiles, k and the block indices go from 0 to {nt - 1}")
    fig, axes = _figure(3, width=13, height=4.6)
    spec = (("A", (by, k), "#4e79a7", [(by, j) for j in range(k)]),
            ("B", (k, bx), "#59a14f", [(j, bx) for j in range(k)]),
            ("C", (by, bx), "#f28e2b", []))
    for ax, (name, (tr, tc), col, done) in zip(axes, spec):
        ax.set_xlim(0, n)
        ax.set_ylim(n, 0)
        ax.set_aspect("equal")
        for t in range(nt + 1):
            ax.axhline(min(t * tile, n), color="0.7", linewidth=0.8)
            ax.axvline(min(t * tile, n), color="0.7", linewidth=0.8)
        for r, c in done:
            ax.add_patch(Rectangle((c * tile, r * tile), tile, tile, facecolor=col, alpha=0.2))
        alpha = 0.35 + 0.6 * (k + 1) / nt if name == "C" else 0.9
        ax.add_patch(Rectangle((tc * tile, tr * tile), tile, tile, facecolor=col, alpha=alpha, edgecolor="k",
                               linewidth=2))
        ax.set_title(f"{name}: tile ({tr},{tc})" + (" in shared memory" if name != "C" else
                                                    f", {k + 1}/{nt} of its sum done"), fontsize=10)
        ax.set_xlabel("column")
        ax.set_ylabel("row")
    fig.suptitle(f"tiled matmul, n={n}, tile={tile}: step k={k} of block (bx={bx}, by={by})\n"
                 f"load A[{by},{k}] and B[{k},{bx}] into shared memory, syncthreads, multiply-add into C[{by},{bx}],"
                 f" syncthreads", fontsize=10)
    axes[0].legend(handles=[Patch(facecolor="#4e79a7", alpha=0.9, label="tile in shared memory now"),
                            Patch(facecolor="#4e79a7", alpha=0.2, label="tiles used at earlier steps")],
                   loc="upper center", bbox_to_anchor=(0.5, -0.18), fontsize=8)
    return fig


# ---- one warp: coalescing and banks ------------------------------------------------------------------

def _warp_offsets(source, array, block, warp, k, itemsize):
    """(lanes, byte offsets, itemsize, label) from a Trace or from element offsets per lane."""
    if hasattr(source, "warp_request"):
        r = source.warp_request(array, block, warp, k)
        label = f"{source.name}: {array} {r['op']} at line {r['line']}, warp {warp} of block {block}, " \
                f"request {k + 1}/{r['count']}"
        return np.asarray(r["lanes"]), np.asarray(r["byte"]), r["itemsize"], label
    offsets = np.asarray(source, np.int64)
    return np.arange(len(offsets)), offsets * itemsize, itemsize, f"{len(offsets)} lanes, {itemsize}-byte elements"


def coalescing_view(source, array=None, *, block=0, warp=0, k=0, itemsize=4) -> Figure:
    """The addresses one warp request touches and the 32-byte sectors they fall in.

    `source` is a Trace (with `array`, and which block / warp / k-th request) or the element offset
    each lane reads, e.g. `np.arange(32) * stride`."""
    lanes, byte, itemsize, label = _warp_offsets(source, array, block, warp, k, itemsize)
    sectors = np.unique(byte // SECTOR_BYTES)
    ideal = math.ceil(len(np.unique(byte)) * itemsize / SECTOR_BYTES)
    lo, hi = int(sectors.min()), int(sectors.max()) + 1
    span = hi - lo
    fig, (ax,) = _figure(width=12, height=4.2)

    def pos(b):                       # the sector axis, scaled to the width of the 32 lanes
        return (b / SECTOR_BYTES - lo) / span * 31
    show = range(lo, hi) if span <= 64 else sectors
    for s in show:
        hit = s in set(sectors.tolist())
        ax.add_patch(Rectangle((pos(s * SECTOR_BYTES), -0.4), 31 / span, 0.5, facecolor="#f28e2b" if hit else "white",
                               edgecolor="0.4", linewidth=0.6))
    for lane, b in zip(lanes, byte):
        ax.plot([lane, pos(b + itemsize / 2)], [1, 0.1], color="#4e79a7", linewidth=0.8)
    ax.scatter(lanes, np.ones(len(lanes)), s=30, color="#4e79a7", zorder=3)
    ax.set_yticks([1, -0.15], ["lanes", "memory\n(32-byte sectors)"])
    ax.set_xticks(np.arange(0, 32, 4), [f"lane {i}" for i in range(0, 32, 4)], fontsize=8)
    ax.tick_params(axis="x", top=True, labeltop=True, bottom=False, labelbottom=False)   # lanes on top
    every = max(1, math.ceil(len(show) / 16))
    for s in list(show)[::every]:                       # byte offsets under the sectors
        ax.text(pos(s * SECTOR_BYTES), -0.47, f"{s * SECTOR_BYTES}", ha="left", va="top", fontsize=7, color="0.3")
    ax.set_xlabel(f"byte offset in the array: bytes {lo * SECTOR_BYTES} to {hi * SECTOR_BYTES} (sectors drawn to scale"
                  f"{'' if span <= 64 else ', untouched ones left out'})")
    ax.set_ylim(-0.75, 1.4)
    eff = ideal / len(sectors)
    ax.set_title(f"{label}\n{len(lanes)} lanes touch {len(sectors)} sector(s); {ideal} would do: "
                 f"coalescing efficiency {eff:.0%}", fontsize=10)
    ax.legend(handles=[Patch(facecolor="#f28e2b", edgecolor="0.4", label="sector moved"),
                       Patch(facecolor="white", edgecolor="0.4", label="sector not needed")],
              loc="upper right", fontsize=8)
    return fig


def bank_view(source, array=None, *, block=0, warp=0, k=0, itemsize=4) -> Figure:
    """Which of the 32 shared-memory banks each lane of a warp hits; conflicting banks in red.

    `source` is a Trace (with `array`) or the element offset each lane accesses."""
    lanes, byte, itemsize, label = _warp_offsets(source, array, block, warp, k, itemsize)
    word = byte // WORD_BYTES
    bank = word % BANKS
    words_per_bank = np.array([len(np.unique(word[bank == b])) for b in range(BANKS)])
    ways = int(words_per_bank.max(initial=1))
    fig, axes = _figure(2, width=13, height=4.2)
    ax = axes[0]
    colors = np.where(words_per_bank[bank] > 1, "#d62728", "#59a14f")
    ax.scatter(bank, lanes, c=colors, s=28)
    ax.set_xlim(-0.5, BANKS - 0.5)
    ax.set_ylim(31.5, -0.5)
    ax.set_xlabel("bank (4-byte word address mod 32)")
    ax.set_ylabel("lane")
    ax.set_title("the bank each lane hits", fontsize=10)
    ax = axes[1]
    ax.bar(range(BANKS), words_per_bank, color=np.where(words_per_bank > 1, "#d62728", "#59a14f"))
    ax.set_xlabel("bank")
    ax.set_ylabel("distinct words requested")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("words per bank (same word = broadcast, free)", fontsize=10)
    ax.legend(handles=[Patch(color="#59a14f", label="one pass"), Patch(color="#d62728", label="conflict")],
              fontsize=8, loc="upper right")
    fig.suptitle(f"{label}\n{ways}-way bank conflict: the request takes {ways} pass(es)"
                 + (" (change the stride between lanes, e.g. pad each row by one element)" if ways > 1 else ""),
                 fontsize=10)
    return fig
