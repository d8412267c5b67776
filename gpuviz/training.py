"""Views of a training run: loss and accuracy curves (live while training), a confusion matrix, a grid
of images, and the dependency picture of a recurrent network.

Drawing functions are pure (data in, matplotlib Figure out). `gv.widgets.LiveFigure` redraws one of
them in place while a loop runs.
"""
from __future__ import annotations

import numpy as np


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def plot_curves(history: dict, title: str | None = None, baseline: float | None = None,
                target: float | None = None):
    """Training curves from a history dict: "step" and "loss" (training loss per step), optionally
    "eval_step" with "val_loss" and/or "accuracy" (0..1). Loss on the left, accuracy on the right
    when there is one. `baseline` draws a reference loss (e.g. ln(vocabulary), a uniform guess) and
    `target` a target accuracy (right panel) or loss (left panel when there is no accuracy)."""
    has_acc = bool(history.get("accuracy"))
    fig = _figure((9, 3.2) if has_acc else (6, 3.4))
    ax = fig.add_subplot(1, 2 if has_acc else 1, 1)
    steps, loss = history.get("step", []), history.get("loss", [])
    if loss:
        ax.plot(steps, loss, color="C0", alpha=0.35, lw=1, label="training loss (batch)")
        if len(loss) >= 10:
            k = max(2, len(loss) // 20)
            smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
            ax.plot(steps[k - 1:], smooth, color="C0", lw=2, label=f"training loss (mean of {k})")
    if history.get("val_loss"):
        ax.plot(history["eval_step"], history["val_loss"], "o-", color="C1", label="validation loss")
    if baseline is not None:
        ax.axhline(baseline, color="0.5", ls=":", label=f"uniform guess {baseline:.2f}")
    if target is not None and not has_acc:
        ax.axhline(target, color="C2", ls="--", label=f"target {target:g}")
    ax.set(xlabel="training step", ylabel="loss (nats)")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    if has_acc:
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.plot(history["eval_step"], 100 * np.asarray(history["accuracy"]), "o-", color="C2", label="test accuracy")
        if target is not None:
            ax2.axhline(100 * target, color="C3", ls="--", label=f"target {100 * target:g} %")
        ax2.set(xlabel="training step", ylabel="accuracy (%)")
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """counts[i, j] = how many items of true class i were predicted as class j."""
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    return np.bincount(n_classes * y_true + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def plot_confusion(counts, classes, title: str | None = None):
    """A confusion matrix as a heatmap of row percentages (each true class sums to 100 %)."""
    counts = np.asarray(counts)
    rows = counts.sum(1, keepdims=True)
    pct = 100 * counts / np.maximum(rows, 1)
    n = len(classes)
    fig = _figure((6.4, 5.4))
    ax = fig.add_subplot()
    im = ax.imshow(pct, cmap="Blues", vmin=0, vmax=100)
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                ax.text(j, i, f"{pct[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if pct[i, j] > 50 else "black")
    ax.set_xticks(range(n), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), classes, fontsize=8)
    ax.set(xlabel="predicted class", ylabel="true class")
    fig.colorbar(im, ax=ax, label="% of the true class", shrink=0.8)
    ax.set_title(title or f"confusion matrix, {int(counts.sum())} test images, accuracy "
                 f"{100 * np.trace(counts) / max(1, counts.sum()):.1f} %", fontsize=10)
    return fig


def plot_images(images, titles=(), ncols: int = 8, title: str | None = None, size: float = 1.2):
    """A grid of grayscale images (N, H, W) or (N, 1, H, W) with a small title under each."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[:, 0]
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig = _figure((size * ncols, (size + 0.35) * nrows + (0.3 if title else 0)))
    for i in range(nrows * ncols):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.set_axis_off()
        if i < n:
            ax.imshow(images[i], cmap="gray_r")
            if i < len(titles):
                ax.set_title(titles[i], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_recurrence(steps: int = 6, batch: int = 4):
    """Why an RNN is sequential in time and parallel across the batch: a grid of cells (batch rows ×
    time columns); each cell needs the one to its left, while a whole column is one matrix multiply."""
    from matplotlib.patches import FancyArrowPatch, Rectangle

    fig = _figure((1.2 * steps + 1.5, 0.8 * batch + 1.6))
    ax = fig.add_subplot()
    for t in range(steps):
        ax.add_patch(Rectangle((t - 0.42, -0.5), 0.84, batch, facecolor=f"C{t % 10}", alpha=0.12, lw=0))
        ax.text(t, batch - 0.25, f"step {t + 1}", ha="center", fontsize=8)
        for b in range(batch):
            ax.add_patch(Rectangle((t - 0.3, b - 0.3), 0.6, 0.6, facecolor="white", edgecolor=f"C{t % 10}", lw=1.5))
            ax.text(t, b, f"h{t + 1}", ha="center", va="center", fontsize=7)
            if t:
                ax.add_patch(FancyArrowPatch((t - 0.7, b), (t - 0.3, b), arrowstyle="-|>", mutation_scale=8,
                                             color="0.3"))
    ax.text(-0.9, (batch - 1) / 2, "batch (sequences)", rotation=90, ha="center", va="center", fontsize=9)
    ax.annotate("", xy=(steps - 0.5, -0.85), xytext=(-0.5, -0.85),
                arrowprops=dict(arrowstyle="-|>", color="C3", lw=1.5))
    ax.text((steps - 1) / 2, -1.15, "time: each step needs the previous hidden state → one step after another",
            ha="center", va="top", fontsize=9, color="C3")
    ax.set_xlim(-1.2, steps - 0.4)
    ax.set_ylim(-1.7, batch + 0.1)
    ax.set_axis_off()
    ax.set_title("a shaded column = every sequence of the batch at one time step = one matrix multiply on the GPU",
                 fontsize=9)
    return fig
