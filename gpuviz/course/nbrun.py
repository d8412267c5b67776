"""Run a notebook's code cells without Jupyter: one subprocess per notebook, under a time budget.

    from gpuviz.course import nbrun
    r = nbrun.run("course/solutions/08_cnn_fashion_mnist.ipynb", log="08.log", budget=90)
    r.status            # "ok", "error" (a cell raised), "timeout" (killed at the budget) or "crashed"

For machines with no Jupyter (scripts/gpu-reference on a GPU box): the .ipynb is read as plain
JSON and its code cells are exec'd in order in one fresh namespace, as a kernel would, with
matplotlib's Agg backend and a `display` stand-in. A cell ending in an expression shows its value
as Jupyter does (a trailing `;` hides it); Figures are saved as PNGs when a figure folder is given.
The subprocess keeps a crash, a poisoned CUDA context or a hang inside one notebook; its stdout and
stderr go to the log, and one JSON line per cell goes to a status file the parent reads, so that
even a notebook killed at its budget says which cell it was in.

The notebooks use no `%` magics and need no `get_ipython()`: a cell with a magic is a SyntaxError here.
"""
from __future__ import annotations

import argparse
import ast
import builtins
import json
import linecache
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

KILL_GRACE_S = 5.0      # after SIGTERM at the budget, seconds before SIGKILL
# settings that hold paths (os.pathsep-separated): made absolute, as the notebook runs elsewhere
PATH_SETTINGS = ("GPUVIZ_DATA_PATH", "GPUVIZ_DATA", "GPUVIZ_KERNEL_LOG")


@dataclass
class NotebookRun:
    """How one notebook's run ended."""

    notebook: str
    status: str                    # "ok", "error", "timeout", "crashed"
    seconds: float
    cells: int                     # code cells in the notebook
    cells_run: int                 # code cells that finished (with or without an error)
    failed_cell: int | None = None     # index into the notebook's cells (as Jupyter numbers them, from 0)
    error: str | None = None           # one line: the exception, or why the run ended
    traceback: str | None = None
    slowest: list = field(default_factory=list)   # [(cell, seconds)], the three slowest cells

    def to_dict(self) -> dict:
        return asdict(self)


def code_cells(path) -> list[tuple[int, str]]:
    """(index among all cells, source) of each code cell of an .ipynb, read as JSON (no nbformat)."""
    nb = json.loads(Path(path).read_text())
    return [(i, c["source"] if isinstance(c["source"], str) else "".join(c["source"]))
            for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]


# ---- the parent: start, watch, kill ----------------------------------------------------------------------

def run(notebook, *, log, budget: float, env: dict | None = None, figures=None,
        keep_going: bool = False) -> NotebookRun:
    """Execute `notebook` in a fresh Python process (in a scratch working directory), stdout and stderr
    to `log`, killed after `budget` seconds. Returns a NotebookRun; never raises for the notebook's faults."""
    notebook, log = Path(notebook).resolve(), Path(log)
    n_cells = len(code_cells(notebook))
    status_file = log.with_suffix(".cells.jsonl")
    status_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "gpuviz.course.nbrun", str(notebook), "--status", str(status_file)]
    if figures:
        cmd += ["--figures", str(Path(figures).resolve())]
    if keep_going:
        cmd.append("--keep-going")
    env = dict(os.environ if env is None else env)
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("TQDM_MININTERVAL", "10")     # progress bars: a line per 10 s in the log, not per step
    env["PYTHONUNBUFFERED"] = "1"
    for key in PATH_SETTINGS:
        if env.get(key):
            env[key] = os.pathsep.join(str(Path(p).expanduser().resolve()) if p.strip() else p
                                       for p in env[key].split(os.pathsep))
    # this checkout's gpuviz first, also from the scratch working directory
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nbrun-") as cwd, open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
                                env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=budget)
            timed_out = False
        except subprocess.TimeoutExpired:
            rc, timed_out = _kill(proc), True
    seconds = time.perf_counter() - t0
    return _result(notebook.name, n_cells, _read_status(status_file), rc, timed_out, seconds, budget)


def _kill(proc) -> int:
    """End the notebook's process group (its own children too, e.g. DDP workers): TERM, then KILL."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


def _read_status(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:      # a line cut off by a kill
            break
    return rows


def _result(name, n_cells, rows, rc, timed_out, seconds, budget) -> NotebookRun:
    done = [r for r in rows if "seconds" in r]
    slowest = sorted(((r["cell"], round(r["seconds"], 2)) for r in done), key=lambda x: -x[1])[:3]
    failed = next((r for r in done if not r["ok"]), None)
    r = NotebookRun(name, "ok", seconds, n_cells, len(done), slowest=slowest)
    if timed_out:
        started = [x for x in rows if "seconds" not in x]
        cell = started[-1]["cell"] if started and len(started) > len(done) else None
        r.status, r.failed_cell = "timeout", cell
        r.error = f"killed at its budget of {budget:.0f} s" + (f", in cell {cell}" if cell is not None else "")
    elif failed is not None:
        r.status, r.failed_cell = "error", failed["cell"]
        r.error, r.traceback = failed["error"], failed["traceback"]
    elif rc != 0 or len(done) < n_cells:
        r.status = "crashed"
        r.error = f"the process ended with exit status {rc} after {len(done)} of {n_cells} code cells"
    return r


# ---- the child: exec the cells -----------------------------------------------------------------------------

class _Shown:
    """Where displayed values go: Figures to PNG files (if a folder is given), the rest to stdout."""

    def __init__(self, folder: Path | None):
        self.folder, self.count, self.cell = folder, 0, 0

    def __call__(self, *objs, **kwargs):
        for obj in objs:
            self.show(obj)

    def show(self, obj):
        if obj is None:
            return
        if hasattr(obj, "savefig"):                   # a matplotlib Figure
            self.save(obj)
        elif hasattr(obj, "_repr_mimebundle_") or type(obj).__module__.startswith(("ipywidgets", "IPython")):
            print(f"[{type(obj).__name__}]")              # widgets and rich objects: nothing to see in a log
        else:
            text = repr(obj)
            print(text if len(text) <= 2000 else text[:2000] + " ...")

    def save(self, fig):
        if self.folder is None:
            return
        self.count += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        fig.savefig(self.folder / f"cell{self.cell:02d}_{self.count:02d}.png", dpi=60)


def _compile_cell(source: str, filename: str):
    """(statements, last expression or None): the last expression is shown, unless the cell ends with ';'."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)   # tracebacks show lines
    tree = ast.parse(source, filename)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not source.rstrip().endswith(";"):
        last = ast.Expression(tree.body.pop().value)
    # dont_inherit: the cells get no `from __future__` of this module, as in a kernel
    return (compile(tree, filename, "exec", dont_inherit=True),
            compile(last, filename, "eval", dont_inherit=True) if last is not None else None)


def _close_pyplot(shown: _Shown):
    """Show and close what pyplot drew in the cell, as the inline backend does."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for num in plt.get_fignums():
        shown.save(plt.figure(num))
    plt.close("all")


def execute(notebook, status, figures=None, keep_going=False) -> int:
    """Exec each code cell of `notebook` in one namespace; a JSON line per cell to `status`. Exit status."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    name = Path(notebook).name
    shown = _Shown(Path(figures) if figures else None)
    ns = {"__name__": "__main__", "__builtins__": builtins, "display": shown}
    failures = 0
    with open(status, "a") as st:
        def note(**row):
            st.write(json.dumps(row) + "\n")
            st.flush()

        for i, source in code_cells(notebook):
            shown.cell = i
            print(f"---- {name} cell {i} ----", flush=True)
            note(cell=i)
            t0 = time.perf_counter()
            try:
                body, last = _compile_cell(source, f"<{name} cell {i}>")
                exec(body, ns)
                if last is not None:
                    shown.show(eval(last, ns))
                _close_pyplot(shown)
                note(cell=i, seconds=time.perf_counter() - t0, ok=True)
            except BaseException as e:  # noqa: BLE001 report the cell's failure, whatever it is
                tb = traceback.format_exc()
                print(f"FAILED: {name} cell {i}\n{tb}", flush=True)
                note(cell=i, seconds=time.perf_counter() - t0, ok=False, error=f"{type(e).__name__}: {e}"[:500],
                     traceback=tb[-4000:])
                failures += 1
                if not keep_going or isinstance(e, KeyboardInterrupt):
                    break
            sys.stdout.flush()
    return 1 if failures else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m gpuviz.course.nbrun", description=__doc__.split("\n\n")[0])
    p.add_argument("notebook")
    p.add_argument("--status", required=True, help="file that gets one JSON line per cell")
    p.add_argument("--figures", help="folder for the notebook's figures as PNGs (default: none saved)")
    p.add_argument("--keep-going", action="store_true", help="run the cells after a failing cell too")
    a = p.parse_args(argv)
    return execute(a.notebook, a.status, a.figures, a.keep_going)


if __name__ == "__main__":
    raise SystemExit(main())
