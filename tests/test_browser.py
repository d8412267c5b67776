"""The course in a real browser: JupyterLab 4 + ipywidgets 8, driven with Debian's Chromium.

For every student notebook that shows widgets (found by reading notebooks/*.ipynb, so new lessons are
covered as they land), the test opens it in JupyterLab, runs all cells (simulator mode), and asserts:
  - no cell has an error output, and no widget failed to render;
  - each widget's main control (its first slider), moved with the keyboard as a learner would, makes
    the widget draw a different picture (the PNG data in the page changes), and the widget then shows
    exactly one picture (no stale figure left above or below it);
  - the page logged no JavaScript error from the widgets.
On failure a full-page screenshot and the console log are saved under build/browser/.

With GPUVIZ_SCREENSHOTS=DIR it also saves the README's screenshots (see SCREENSHOTS below) as small
PNGs into DIR: `scripts/screenshots` (= GPUVIZ_SCREENSHOTS=docs/screenshots pytest tests/test_browser.py).

Needs `apt-get install chromium` and `pip install playwright` (never `playwright install`: the test
drives /usr/bin/chromium). Without them the tests skip, except under CI (CI=true), where they fail.
Select them with `-m browser`; leave them out with `-m "not browser"`.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = Path(os.environ.get("GPUVIZ_BROWSER_NOTEBOOKS", ROOT / "notebooks"))  # or course/solutions
CHROMIUM = os.environ.get("GPUVIZ_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "build" / "browser"
SHOTS = os.environ.get("GPUVIZ_SCREENSHOTS")
RUN_TIMEOUT_S = 240  # one notebook, all cells, simulator mode, in a browser on a busy 2-core machine

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Code that puts widgets on the page: gpuviz's widgets, or ipywidgets used directly in a lesson.
WIDGET_RE = re.compile(r"\b(?:gv|gpuviz)\.widgets\b|from gpuviz(?:\.widgets)? import [^\n]*widget|"
                       r"^\s*import ipywidgets|^\s*from ipywidgets import", re.M)

# README screenshots: name -> (notebook name pattern, cell source pattern, what). The first cell whose
# source matches and whose output has a picture is shot: "widget" the whole widget (after its main
# control was moved), "figure" the last picture in the cell's output.
SCREENSHOTS = {
    "widget_launch_map": (r"^01_", r"launch_widget|launch_map_explorer\(", "widget"),
    "roofline": (r"^04_", r"roofline\.(plot|measure)", "figure"),
    "ladder": (r"^05_", r"ladder|LADDER", "figure"),
    "training_curve": (r"^08_", r"LiveFigure\(training\.plot_curves|LiveFigure\(gv\.training\.plot_curves", "figure"),
}


GALLERY = "zz_widget_gallery.ipynb"


def _gallery_notebook(path: Path):
    """A scratch notebook: every gpuviz widget (tests/widget_gallery.py), one per cell."""
    import nbformat
    import widget_gallery

    cells = [nbformat.v4.new_code_cell(f"import sys\nsys.path.insert(0, {str(ROOT / 'tests')!r})\n"
                                       "import widget_gallery as G")]
    cells += [nbformat.v4.new_code_cell(f"G.build({n!r}, {i})") for n, i in widget_gallery.variants()]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, path)


def pages() -> list[str]:
    """What the test opens: every notebook with widgets, the widget gallery, and (when making
    screenshots) the notebooks the README's screenshots come from."""
    names = [p.name for p in widget_notebooks()] + [GALLERY]
    if SHOTS:
        names += [p.name for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) if p.name not in names
                  and any(re.search(nb_pat, p.name) for nb_pat, _, _ in SCREENSHOTS.values())]
    return names


def widget_notebooks() -> list[Path]:
    out = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text())
        if any(c["cell_type"] == "code" and WIDGET_RE.search("".join(c["source"])) for c in nb["cells"]):
            out.append(path)
    return out


def _missing(why: str):
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI must install it: see .ci/run)")
    pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on loopback, serving a copy of notebooks/ (autosave must not write into the repo)."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    _gallery_notebook(root / GALLERY)
    # No news, no update checks, no first-run toasts: a quiet, offline lab.
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    tracker = base / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)   # every cell stays in the page (no windowing), so each can be found
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "JUPYTER_CONFIG_DIR": str(base / "config"),
           "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"), "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
           "PYTHONUNBUFFERED": "1"}
    env.pop("GPUVIZ_STRICT", None)
    log = open(base / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.disable_check_xsrf=False",
         "--LanguageServerManager.autodetect=False"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=base)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("JupyterLab did not start:\n" + (base / "lab.log").read_text()[-3000:])
            time.sleep(0.5)
    yield {"url": url, "token": token, "root": root, "log": base / "lab.log"}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: pip install playwright")
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} not found: apt-get install chromium")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        # A fresh profile (--user-data-dir, passed the way Playwright wants it) for every session.
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True,
            viewport={"width": 1400, "height": 1000}, device_scale_factor=1,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"])
        yield context
        context.close()


# JavaScript run in the page (window.jupyterapp exists thanks to --LabApp.expose_app_in_browser).
JS_PANEL_READY = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!w || !w.sessionContext || !w.content || !w.content.model) return false;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && w.content.widgets.length > 0;
}"""
JS_RUN_ALL = "() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); return true; }"
JS_STATE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = [];
  for (const cell of w.content.widgets) {
    const m = cell.model;
    if (m.type !== 'code') continue;
    const outs = [];
    for (let i = 0; i < m.outputs.length; i++) outs.push(m.outputs.get(i).toJSON());
    cells.push({count: m.executionCount, source: m.sharedModel.getSource(), outputs: outs,
                running: cell.node.querySelector('.jp-InputPrompt') &&
                         cell.node.querySelector('.jp-InputPrompt').textContent.includes('*')});
  }
  return {status: k ? k.status : 'none', cells};
}"""
JS_IMAGES = """(view) => Array.from(view.querySelectorAll('img'))
  .map(img => ({src: img.getAttribute('src') || '', w: img.naturalWidth, h: img.naturalHeight}))"""


def _wait(page, fn, timeout_s, what, arg=None):
    deadline = time.time() + timeout_s
    while True:
        value = page.evaluate(fn, arg) if arg is not None else page.evaluate(fn)
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        page.wait_for_timeout(250)


def _run_all(page) -> list[dict]:
    """Run every cell; return the code cells once all have run and the kernel is idle."""
    _wait(page, JS_PANEL_READY, 120, "the notebook to open and its kernel to start")
    page.evaluate(JS_RUN_ALL)
    deadline = time.time() + RUN_TIMEOUT_S
    while True:
        page.wait_for_timeout(500)
        st = page.evaluate(JS_STATE)
        errors = [c for c in st["cells"] if any(o.get("output_type") == "error" for o in c["outputs"])]
        if errors:
            return st["cells"]           # run-all stops at the first error
        done = all(c["count"] for c in st["cells"] if c["source"].strip())
        if done and st["status"] == "idle" and not any(c["running"] for c in st["cells"]):
            return st["cells"]
        if time.time() > deadline:
            todo = [c["source"][:80] for c in st["cells"] if not c["count"] and c["source"].strip()]
            raise AssertionError(f"cells still not run after {RUN_TIMEOUT_S} s (kernel {st['status']}): "
                                 f"{todo[:3]}")


CONTROLS = ".widget-slider, .widget-dropdown, .widget-toggle-buttons, .widget-checkbox"


def _move(page, view) -> bool:
    """Change the widget's main (first) control as a learner would; False when it has none.

    A slider moves one step with the keyboard (left when at its maximum); a dropdown takes another option.
    """
    control = view.locator(CONTROLS).first
    if control.count() == 0:
        return False
    cls = control.get_attribute("class") or ""
    if "widget-slider" in cls:
        handle = control.locator(".noUi-handle, .ui-slider-handle").first
        handle.focus()
        now = float(handle.get_attribute("aria-valuenow") or 0)
        top = float(handle.get_attribute("aria-valuemax") or now + 1)
        page.keyboard.press("ArrowLeft" if now >= top else "ArrowRight")
    elif "widget-dropdown" in cls:
        select = control.locator("select")
        n, k = select.evaluate("s => [s.options.length, s.selectedIndex]")
        select.select_option(index=(k + 1) % n)
    else:
        control.locator("button, input").last.click()
    return True


def _error_text(cell) -> str:
    for o in cell["outputs"]:
        if o.get("output_type") == "error":
            return f"{o.get('ename')}: {o.get('evalue')}\nin cell:\n{cell['source'][:400]}"
    return ""


def _small_png(path: Path, limit=150_000):
    """Shrink a screenshot to a palette PNG; scale it down until it is under `limit` bytes."""
    from PIL import Image

    img = Image.open(path).convert("RGB")
    scale = 1.0
    while True:
        out = img if scale == 1.0 else img.resize((int(img.width * scale), int(img.height * scale)),
                                                  Image.LANCZOS)
        out.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        if path.stat().st_size < limit or scale < 0.3:
            return
        scale *= 0.8


def _shoot(page, sources, nb_name):
    if not SHOTS:
        return
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    for name, (nb_pat, src_pat, what) in SCREENSHOTS.items():
        if not re.search(nb_pat, nb_name):
            continue
        for i, src in enumerate(sources):
            out = cells.nth(i).locator(".jp-Cell-outputArea")
            if not re.search(src_pat, src) or out.locator("img").count() == 0:
                continue
            target = (out.locator(".jp-OutputArea-output > .jupyter-widgets").first if what == "widget"
                      else out.locator("img").last)
            target.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            path = Path(SHOTS) / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            target.screenshot(path=str(path))
            _small_png(path)
            break


@pytest.mark.parametrize("name", pages(), ids=lambda n: Path(n).stem)
def test_notebook_widgets_work_in_jupyterlab(lab, browser, name):
    console, page_errors, current = [], [], {}
    page = browser.new_page()
    page.on("console", lambda m: console.append((m.type, m.text)))
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    try:
        page.goto(f"{lab['url']}/lab/tree/{name}?token={lab['token']}&reset", timeout=120_000)
        cells = _run_all(page)
        broken = [_error_text(c) for c in cells if _error_text(c)]
        assert not broken, f"{name}: a cell raised an error:\n{broken[0]}"
        page.wait_for_timeout(500)
        failed = page.locator(".jp-OutputArea-output:has-text('Error displaying widget'), "
                              ".jp-OutputArea-output:has-text('Error rendering widget')")
        assert failed.count() == 0, f"{name}: a widget failed to render: {failed.first.inner_text()}"

        # the top-level widget views of the cells (not widgets nested in an Output)
        views = page.locator(".jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output > .jupyter-widgets")
        drawing, moved = 0, 0
        for i in range(views.count()):
            view = views.nth(i)
            before = view.evaluate(JS_IMAGES)
            if not before:
                continue                  # draws no picture (a progress bar, a button)
            drawing += 1
            current["view"] = view
            view.scroll_into_view_if_needed()
            assert all(b["w"] > 0 and b["h"] > 0 for b in before), f"{name}: widget {i} shows a blank picture"
            if len(before) != 1 or not _move(page, view):
                continue                  # a live figure or a picture without controls: shown, nothing to move
            try:
                page.wait_for_function(
                    "([view, old]) => { const imgs = Array.from(view.querySelectorAll("
                    "'img'));"
                    "return imgs.length > 0 && imgs.every(i => i.getAttribute('src') !== old); }",
                    arg=[view.element_handle(), before[0]["src"]], timeout=60_000)
            except Exception as e:
                raise AssertionError(f"{name}: widget {i}: changing its main control did not change the "
                                     f"picture ({len(view.evaluate(JS_IMAGES))} picture(s) now)") from e
            page.wait_for_timeout(300)
            after = view.evaluate(JS_IMAGES)
            assert len(after) == 1, (f"{name}: widget {i} shows {len(after)} pictures after a redraw "
                                     f"(the old one was not cleared)")
            assert after[0]["w"] > 0 and after[0]["h"] > 0, f"{name}: widget {i}: blank picture after a redraw"
            moved += 1
        current.clear()
        if name == GALLERY:
            import widget_gallery

            assert moved == len(widget_gallery.variants()), f"moved {moved} of the gallery's widgets"
        # (a lesson may show no picture in a student version, where a stub exercise skips the training)

        bad = [t for k, t in console if k == "error" and re.search(r"widget|jupyter-widgets|ipywidgets|"
                                                                   r"model|comm", t, re.I)]
        assert not page_errors and not bad, f"{name}: JavaScript errors: {page_errors + bad}"
        _shoot(page, [c["source"] for c in cells], name)
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        stem = Path(name).stem
        for what, shot in (("page", lambda p: page.screenshot(path=p)),
                           ("widget", lambda p: current["view"].screenshot(path=p))):
            try:
                shot(str(ARTIFACTS / f"{stem}.{what}.png"))
            except Exception:
                pass
        (ARTIFACTS / f"{stem}.console.txt").write_text(
            "\n".join(f"{k}: {t}" for k, t in console) + "\n\npage errors:\n" + "\n".join(page_errors))
        shutil.copy(lab["log"], ARTIFACTS / "lab.log")
        raise
    finally:
        page.close()


def test_widget_notebooks_are_discovered():
    """The notebooks that show widgets are found by reading them (lesson 01 has the launch map)."""
    names = [p.name for p in widget_notebooks()]
    assert any(n.startswith("01_") for n in names), names
