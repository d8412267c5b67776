"""scripts/gpu-reference and gpuviz.course.nbrun: notebooks run without Jupyter, under budgets, summarized."""
import importlib.util
import json
import re
import tarfile
import time
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

from gpuviz import bench
from gpuviz import matmul_kernels as mk
from gpuviz.course import manifest, nbrun

ROOT = Path(__file__).resolve().parent.parent


def load_script():
    loader = SourceFileLoader("gpu_reference", str(ROOT / "scripts" / "gpu-reference"))
    spec = importlib.util.spec_from_loader("gpu_reference", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def notebook(path: Path, *cells: str) -> Path:
    """A minimal .ipynb: a markdown cell first (so code cell indices start at 1), then the code cells."""
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# fixture"]}]
                   + [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                       "source": c.splitlines(True)} for c in cells],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


# ---- gpuviz.course.nbrun ------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_good_notebook_runs_in_one_namespace_and_shows_what_jupyter_shows(tmp_path):
    nb = notebook(tmp_path / "good.ipynb",
                  "x = 6 * 7\nx",                                # last expression: shown
                  "x + 1;",                                      # a trailing ';' hides it
                  "import matplotlib.pyplot as plt\nfrom matplotlib.figure import Figure\n"
                  "plt.plot([1, 2]);\nfig = Figure()\nfig.add_subplot().plot([3, 4])\nfig",
                  "display('shown by display', x)\nimport os\nprint(os.getcwd())",
                  "def f(n: int): pass\nassert f.__annotations__ == {'n': int}")      # no __future__ from nbrun
    r = nbrun.run(nb, log=tmp_path / "good.log", budget=60, figures=tmp_path / "figs")
    assert (r.status, r.cells, r.cells_run, r.failed_cell) == ("ok", 5, 5, None), r
    log = (tmp_path / "good.log").read_text()
    lines = log.splitlines()
    assert "42" in lines and "43" not in lines and "'shown by display'" in lines    # lines: the scratch dir's random name may hold "43"
    assert str(tmp_path) not in log and str(ROOT) not in log.split("cell 4 ----")[1]    # a scratch directory
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["cell03_01.png", "cell03_02.png"]


@pytest.mark.slow
def test_relative_data_paths_still_point_at_the_data_from_the_scratch_directory(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GPUVIZ_DATA_PATH", "data")
    nb = notebook(tmp_path / "paths.ipynb", "import os\nprint(os.environ['GPUVIZ_DATA_PATH'])\n"
                  "assert os.path.isdir(os.environ['GPUVIZ_DATA_PATH'])")
    r = nbrun.run(nb, log=tmp_path / "paths.log", budget=60)
    assert r.status == "ok", r.traceback
    assert str(tmp_path / "data") in (tmp_path / "paths.log").read_text()


@pytest.mark.slow
def test_a_failing_cell_is_reported_with_its_index_and_traceback_and_ends_the_notebook(tmp_path):
    nb = notebook(tmp_path / "bad.ipynb", "a = 1", "def f():\n    return 1 / 0\n\nf()", "print('after')")
    r = nbrun.run(nb, log=tmp_path / "bad.log", budget=60)
    assert (r.status, r.failed_cell, r.cells_run) == ("error", 2, 2)
    assert r.error == "ZeroDivisionError: division by zero"
    assert '"<bad.ipynb cell 2>", line 2, in f' in r.traceback and "return 1 / 0" in r.traceback
    log = (tmp_path / "bad.log").read_text()
    assert "FAILED: bad.ipynb cell 2" in log and "after" not in log
    r = nbrun.run(nb, log=tmp_path / "bad.log", budget=60, keep_going=True)
    assert (r.status, r.failed_cell, r.cells_run) == ("error", 2, 3)
    assert "after" in (tmp_path / "bad.log").read_text()


@pytest.mark.slow
def test_a_hanging_notebook_is_killed_at_its_budget_with_its_children(tmp_path):
    pid_file = tmp_path / "child.pid"
    nb = notebook(tmp_path / "hang.ipynb", "print('started')",
                  f"import subprocess, time\np = subprocess.Popen(['sleep', '300'])\n"
                  f"open({str(pid_file)!r}, 'w').write(str(p.pid))\ntime.sleep(300)")
    t0 = time.perf_counter()
    r = nbrun.run(nb, log=tmp_path / "hang.log", budget=4)
    assert time.perf_counter() - t0 < 4 + nbrun.KILL_GRACE_S + 5
    assert (r.status, r.failed_cell, r.cells_run) == ("timeout", 2, 1)
    assert r.error == "killed at its budget of 4 s, in cell 2"
    time.sleep(0.5)
    assert not running(int(pid_file.read_text())), "the notebook's own subprocess should be killed too"


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan waits for its new parent to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_a_crashing_process_is_told_apart_from_a_failing_cell(tmp_path):
    nb = notebook(tmp_path / "crash.ipynb", "import os\nos._exit(3)", "print('never')")
    r = nbrun.run(nb, log=tmp_path / "crash.log", budget=60)
    assert r.status == "crashed" and r.error == "the process ended with exit status 3 after 0 of 2 code cells"


# ---- scripts/gpu-reference -----------------------------------------------------------------------------------

def test_the_plan_names_every_notebook_of_the_course():
    script = load_script()
    numbers = [nb["number"] for nb in manifest.notebooks()]
    missing = [n for n in numbers if n not in script.PLAN]
    assert not missing, f"add notebooks {missing} to PLAN in scripts/gpu-reference, with their seconds on a GPU"
    assert [p.name[:2] for p in script.plan(["08", "05"])] == ["05", "08"]     # the plan's order, not the caller's
    assert sum(script.PLAN.values()) + script.RESERVE_S <= script.TOTAL_GPU_S


@pytest.fixture
def sim(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")       # simulator mode, also on a machine with a GPU


@pytest.mark.slow
def test_the_simulator_run_records_nothing_and_fails_on_any_error(tmp_path, monkeypatch, sim):
    script = load_script()
    good = notebook(tmp_path / "01_good.ipynb", "import os\nassert os.environ['GPUVIZ_STRICT'] == '1'\n"
                    "assert 'GPUVIZ_RECORD_REFERENCE' not in os.environ")
    bad = notebook(tmp_path / "02_bad.ipynb", "raise ValueError('broken on purpose')")
    monkeypatch.setattr(script, "plan", lambda only: [good, bad])
    monkeypatch.setenv("GPUVIZ_RECORD_REFERENCE", "1")       # a caller's setting must not record in the simulator
    assert script.main([str(tmp_path / "out"), "--budget", "200"]) == 1
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["mode"] == "sim" and s["finished"] and s["recorded"] == [] and s["targets"] == []
    assert [(r["notebook"], r["status"]) for r in s["notebooks"]] == [("01_good", "ok"), ("02_bad", "error")]
    assert s["notebooks"][1]["error"] == "ValueError: broken on purpose" and s["notebooks"][1]["failed_cell"] == 1
    assert "simulator: nothing recorded" in (tmp_path / "out" / "summary.md").read_text()
    monkeypatch.setattr(script, "plan", lambda only: [good])
    assert script.main([str(tmp_path / "out2"), "--budget", "200"]) == 0


@pytest.mark.slow
def test_a_simulator_run_that_writes_a_reference_fails(tmp_path, monkeypatch, sim):
    script = load_script()
    sneaky = notebook(tmp_path / "01_sneaky.ipynb",
                      "import os, pathlib\n"
                      "pathlib.Path(os.environ['GPUVIZ_REFERENCE_DIR'], 'x.json').write_text('{}')")
    monkeypatch.setattr(script, "plan", lambda only: [sneaky])
    assert script.main([str(tmp_path / "out"), "--budget", "200"]) == 1
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["error"] == "the simulator run wrote reference files, which only a GPU run may: x.json"


@pytest.mark.slow
def test_budgets_are_shares_of_the_time_left_and_a_cut_short_run_keeps_what_finished(tmp_path, monkeypatch, sim):
    script = load_script()
    quick = notebook(tmp_path / "01_quick.ipynb", "print('done')")
    hang = notebook(tmp_path / "02_hang.ipynb", "import time\ntime.sleep(300)")
    late = notebook(tmp_path / "03_late.ipynb", "print('never started')")
    monkeypatch.setattr(script, "plan", lambda only: [quick, hang, late])
    monkeypatch.setattr(script, "PLAN", {"01": 10, "02": 10, "03": 1})
    monkeypatch.setattr(script, "MIN_START_S", 2)
    monkeypatch.setattr(script, "RESERVE_S", 2)
    assert script.main([str(tmp_path / "out"), "--budget", "12"]) == 1
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    quick_r, hang_r, late_r = s["notebooks"]
    assert quick_r["status"] == "ok" and 4 < quick_r["budget_s"] <= round(10 * 10 / 21, 1)   # 10/21 of (12 - 2 s reserve)
    assert hang_r["status"] == "timeout" and hang_r["budget_s"] > quick_r["budget_s"]  # with the quick one's leftover
    assert late_r["status"] == "skipped" and late_r["error"].startswith("not started")
    with tarfile.open(tmp_path / "out" / "gpu-reference.tar.gz") as tar:
        assert {"out/summary.md", "out/summary.json", "out/logs/01_quick.log"} <= set(tar.getnames())


def ladder_rows(naive_s, coalesced_s, best_pct):
    rows = [{"n": 4096, "kernel": "cublas", "median_s": 0.01, "gflops": 1e4, "pct_cublas": 100.0},
            {"n": 4096, "kernel": "naive_rows", "median_s": naive_s, "gflops": 1.0, "pct_cublas": 1.0},
            {"n": 4096, "kernel": "coalesced", "median_s": coalesced_s, "gflops": 2.0, "pct_cublas": 5.0},
            {"n": 4096, "kernel": "regblock2d", "median_s": 0.02, "gflops": 5e3, "pct_cublas": best_pct},
            {"n": 512, "kernel": "regblock2d", "median_s": 1e-4, "gflops": 9e3, "pct_cublas": 99.0}]
    return {"rows": rows}


def timing(label, seconds, nbytes, size=None):
    return {"label": label, "samples": [seconds] * 3, "sync": "numba", "meaningful": True, "size": size,
            "flops": None, "nbytes": nbytes}


def test_targets_come_from_the_recorded_results_and_say_not_measured_when_missing(tmp_path):
    script = load_script()

    def put(name, results):
        (tmp_path / f"{name}.json").write_text(json.dumps({"name": name, "environment": {}, "results": results}))

    rows = {t["target"]: t for t in script.targets(tmp_path)}
    assert len(rows) == 6 and all(t["value"] is None and t["met"] is None for t in rows.values())
    assert "not measured" in script.markdown({**summary_stub(), "targets": list(rows.values())})

    put(bench.REFERENCE_NAME, ladder_rows(naive_s=0.6, coalesced_s=0.1, best_pct=41.0))
    put("02_memory_and_transfers", {"copies": [timing("D2D (read + write)", 1e-3, 3e9),
                                               timing("D2D (read + write)", 1e-3, 1e9)],
                                    "strided": [timing("copy_strided", 1e-3, 2.8e9, size=1),
                                                timing("copy_strided", 1e-3, 0.2e9, size=2)]})
    put("01_threads_blocks_grids", {"saxpy": [timing("SAXPY kernel", 1e-3, 2.5e9),
                                              timing("NumPy on the CPU", 1e-3, 2.9e9)]})
    put("08_cnn_fashion_mnist", {"time_to_target_s": 31.5, "final_accuracy": 0.93})
    put("09_char_rnn_shakespeare", {"best_val_loss": 1.52})
    rows = {t["target"]: t for t in script.targets(tmp_path)}
    got = {name: (round(t["value"], 2), t["met"]) for name, t in rows.items()}
    assert got == {"best Numba matmul vs cuBLAS FP32, n = 4096": (41.0, False),    # not the 99 % at n = 512
                   "coalesced / uncoalesced naive matmul, n = 4096": (6.0, True),
                   "SAXPY (vector add) kernel / D2D copy bandwidth": (83.33, False),    # 2.5 of 3 TB/s
                   "copy kernel (stride 1) / D2D copy bandwidth": (93.33, True),
                   "CNN: seconds of training to 92 % on Fashion-MNIST": (31.5, False),
                   "LSTM: best validation loss (nats/char)": (1.52, True)}
    md = script.markdown({**summary_stub(), "targets": list(rows.values())})
    assert "| best Numba matmul vs cuBLAS FP32, n = 4096 | 41.0 % | 50.0 % | **NO** |" in md


def summary_stub():
    return {"mode": "gpu", "mode_line": "GPU NVIDIA H100", "started": "2026-11-30T00:00:00+00:00", "commit": "abc",
            "dirty": False, "elapsed_s": 1.0, "budget_s": 480, "finished": True, "missing_modules": [],
            "notebooks": []}


@pytest.mark.slow
def test_on_a_gpu_the_notebooks_record_into_outdir_and_the_summary_computes_the_targets(tmp_path, monkeypatch):
    script = load_script()
    monkeypatch.setattr(script, "cuda_device_count", lambda: 1)          # what a GPU machine reports
    monkeypatch.setattr(script, "simulator_requested", lambda: False)
    record = ("from gpuviz import reference\n"
              "reference.environment = lambda: {'device': 'NVIDIA H100'}   # a GPU stand-in, in this process\n"
              "assert reference.record('09_char_rnn_shakespeare', {'best_val_loss': 1.7}) is not None")
    lstm = notebook(tmp_path / "09_lstm.ipynb", record)
    other = notebook(tmp_path / "10_other.ipynb", "print('records nothing')")
    monkeypatch.setattr(script, "plan", lambda only: [lstm, other])
    assert script.main([str(tmp_path / "out"), "--budget", "200"]) == 0
    out = tmp_path / "out"
    assert [p.name for p in (out / "reference").iterdir()] == ["09_char_rnn_shakespeare.json"]
    s = json.loads((out / "summary.json").read_text())
    assert s["mode"] == "gpu" and s["recorded"] == ["09_char_rnn_shakespeare"]
    assert [r["recorded"] for r in s["notebooks"]] == [["09_char_rnn_shakespeare"], []]
    lstm_target = next(t for t in s["targets"] if t["target"].startswith("LSTM"))
    assert (lstm_target["value"], lstm_target["met"]) == (1.7, False)
    md = (out / "summary.md").read_text()
    assert "| LSTM: best validation loss (nats/char) | 1.70 | 1.60 | **NO** |" in md
    assert "| best Numba matmul vs cuBLAS FP32, n = 4096 | not measured | 50.0 % | - |" in md


def test_the_targets_read_names_the_notebooks_still_record():
    """targets() reads results by name and label: a notebook that renames one would leave it 'not measured'."""
    read = {"01_threads_blocks_grids": ['"01_threads_blocks_grids"', '"saxpy"', 'label="SAXPY kernel"'],
            "02_memory_and_transfers": ['"02_memory_and_transfers"', 'timings["copies"]', 'label="D2D (read + write)"',
                                        'timings["strided"]', 'label="copy_strided", size=stride'],
            "05_matmul_tiled": ["gv.reference.record(bench.REFERENCE_NAME, results)"],
            "08_cnn_fashion_mnist": ['"08_cnn_fashion_mnist"', "time_to_target_s=", "final_accuracy="],
            "09_char_rnn_shakespeare": ['"09_char_rnn_shakespeare"', "best_val_loss="]}
    for name, strings in read.items():
        source = "".join(src for _, src in nbrun.code_cells(ROOT / "course" / "solutions" / f"{name}.ipynb"))
        missing = [s for s in strings if s not in source]
        assert not missing, f"{name} no longer records {missing}: update targets() in scripts/gpu-reference"
    ladder = "".join(src for _, src in nbrun.code_cells(ROOT / "course" / "solutions" / "05_matmul_tiled.ipynb"))
    assert re.search(r"LADDER_SIZES = gv.pick\(gpu=\[[^\]]*\b4096\]", ladder), "the targets are at n = 4096"
    assert {"naive_rows", "coalesced"} <= {r.name for r in mk.LADDER}
