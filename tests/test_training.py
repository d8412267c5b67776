"""gpuviz.training: pure drawing functions return Figures; the confusion matrix counts; LiveFigure is
silent outside IPython."""
import numpy as np
from matplotlib.figure import Figure

from gpuviz import training as T
from gpuviz.widgets import LiveFigure


def test_confusion_matrix_counts():
    cm = T.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert cm.sum() == 6 and np.trace(cm) == 4


def test_figures():
    h = {"step": list(range(1, 41)), "loss": list(np.linspace(2, 1, 40)), "eval_step": [20, 40], "accuracy": [0.5, 0.7]}
    fig = T.plot_curves(h, target=0.92)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    h2 = {"step": [1, 2], "loss": [4.0, 3.5], "eval_step": [2], "val_loss": [3.6]}
    fig = T.plot_curves(h2, baseline=4.17, target=1.6)
    assert len(fig.axes) == 1 and any("uniform" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    assert isinstance(T.plot_curves({}), Figure)
    assert isinstance(T.plot_confusion(np.eye(3, dtype=int) * 5, ["a", "b", "c"]), Figure)
    imgs = np.random.default_rng(0).random((5, 1, 8, 8))
    fig = T.plot_images(imgs, ["x"] * 5, ncols=3, title="t")
    assert len(fig.axes) == 6
    assert isinstance(T.plot_recurrence(4, 3), Figure)


def test_live_figure_outside_ipython_just_draws():
    live = LiveFigure(T.plot_curves)
    fig = live.update({"step": [1], "loss": [1.0]})
    assert isinstance(fig, Figure) and live.figure is fig and live.handle is None
