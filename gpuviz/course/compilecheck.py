"""Check that every kernel the notebooks launch compiles for real GPUs.

The CUDA simulator does no type checking, so a kernel that runs there (say one that calls
`np.zeros` inside) can still fail to compile for a GPU. The check has two halves:

1. `subscribe()`, the `gpuviz.launch` entry point (gpuviz.hooks): while GPUVIZ_KERNEL_LOG names a
   file, every launch is recorded there by gpuviz.kernelrecord (Triton's by gpuviz.tritonkit): one
   JSON line per distinct (kernel, argument types), with the kernel's source and what its free names
   refer to. Recording never raises: what it cannot capture it writes down.
2. `check_log(path)` / `python -m gpuviz.course.compilecheck LOG`: in a process without the simulator,
   rebuilds each kernel from its record and compiles it to PTX with `cuda.compile_ptx` for sm_75
   (Colab's T4) and sm_90 (H100). No GPU is needed, only numba-cuda[cu13] (or [cu12]).

Two more checks close what the log cannot see:

3. `check_notebooks(log, notebooks)` / `--notebooks`: a kernel defined in a notebook but launched
   only in a GPU branch (`if gv.on_gpu():`) never runs under the simulator, so it is never recorded.
   Every `@cuda.jit` kernel written in a notebook's code cells must have a record with the same name
   and source; one without FAILS the check, so it cannot be skipped silently.
4. `check_ladder()` / `--ladder`: the kernels of `gpuviz bench` (gpuviz.matmul_kernels.LADDER), with
   the argument types and launch shapes it uses, assembled by ptxas (inside nvJitLink) to report
   registers, spills, shared memory and blocks per SM (`gpuviz.launch.occupancy`). A ladder kernel
   that spills, or fits fewer blocks per SM than its rung promises, fails.

Triton kernels (notebook 13) go into the same log and are compiled by Triton's own compiler
(gpuviz.tritonkit).
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import math
import os
import subprocess
import sys
import textwrap

from gpuviz import kernelrecord
from gpuviz.kernelrecord import (
    DEFAULT_CCS,
    ENV,
    _cannot_compile_here,
    _compiling_for,
    _first_lines,
    _require_real_target,
    compile_record,
    read_log,
)

def subscribe() -> None:
    """Record every launch of this process in GPUVIZ_KERNEL_LOG while it names a file."""
    from gpuviz import hooks

    hooks.subscribe(_record)


def _record(kernel, args, kwargs) -> None:
    if not os.environ.get(ENV):
        return
    if hasattr(kernel, "fn") and type(kernel).__name__ in ("InterpretedFunction", "JITFunction"):
        from gpuviz import tritonkit

        tritonkit.record(kernel, args, kwargs)
    else:
        kernelrecord.record(kernel, args)


# ---------------------------------------------------------------------------------------------
# Checking (a separate process, without the simulator)
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Compiled:
    name: str
    origin: str
    signature: str  # the argument types as launched
    cc: tuple | None  # None: the record could not be checked at all
    ok: bool
    message: str = ""

    @property
    def target(self) -> str:
        return f"sm_{self.cc[0]}{self.cc[1]}" if self.cc else "-"

    def line(self) -> str:
        head = f"{'ok' if self.ok else 'FAILED':<6} {self.target:<5}  {self.name}({self.signature})  [{self.origin}]"
        if self.ok:
            return head
        return head + "\n" + textwrap.indent(self.message, "         ")


def check_log(path, ccs=DEFAULT_CCS) -> list[Compiled]:
    """Compile every recorded kernel for each compute capability in `ccs`; one Compiled per kernel x cc."""
    _require_real_target()
    results = []
    for rec in read_log(path):
        sig = ", ".join(_describe(a) for a in rec.get("argtypes", []))
        base = {"name": rec.get("name", "?"), "origin": rec.get("origin", "?"), "signature": sig}
        if rec.get("errors"):
            results.append(Compiled(**base, cc=None, ok=False,
                                  message="could not be captured, so not checked:\n" + "\n".join(rec["errors"])))
            continue
        for cc in ccs:
            try:
                if rec.get("kind") == "triton":  # notebook 13: Triton's own compiler (gpuviz.tritonkit)
                    from gpuviz import tritonkit

                    tritonkit.compile_record(rec, tuple(cc))
                else:
                    compile_record(rec, tuple(cc))
                results.append(Compiled(**base, cc=tuple(cc), ok=True))
            except Exception as e:  # noqa: BLE001
                results.append(Compiled(**base, cc=tuple(cc), ok=False, message=_first_lines(e)))
    return results


def _describe(a: dict) -> str:
    if a.get("kind") == "array":
        return f"array({a['dtype']}, {a['ndim']}d, {a['layout']})"
    return a.get("repr", "?")


def notebook_kernels(paths) -> list[tuple[str, str, str]]:
    """(name, source, where) of every `@cuda.jit` kernel (not device function) in the code cells of
    the notebooks at `paths` (files or folders), wherever it sits in a cell: under an `if`, in a function."""
    found = []
    for nb in _notebook_files(paths):
        with open(nb, encoding="utf-8") as f:
            cells = json.load(f).get("cells", [])
        for i, cell in enumerate(cells, 1):
            if cell.get("cell_type") != "code":
                continue
            src = "".join(cell.get("source", []))
            lines = ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in src.splitlines()]  # IPython magics
            try:
                tree = ast.parse("\n".join(lines))
            except SyntaxError:
                continue  # not Python; nbval runs the cell and reports it
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and any(_is_kernel_decorator(d) for d in node.decorator_list):
                    first = min(d.lineno for d in node.decorator_list)
                    found.append((node.name, "\n".join(lines[first - 1:node.end_lineno]), f"{nb}, cell {i}"))
    return found


def _notebook_files(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in sorted(os.walk(p)):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                yield from (os.path.join(root, f) for f in sorted(files) if f.endswith(".ipynb"))
        else:
            yield p


def _is_kernel_decorator(d) -> bool:
    """`@cuda.jit` or `@cuda.jit(...)` without device=True."""
    call = d if isinstance(d, ast.Call) else None
    f = call.func if call else d
    if not (isinstance(f, ast.Attribute) and f.attr == "jit" and isinstance(f.value, (ast.Name, ast.Attribute))
            and (f.value.id if isinstance(f.value, ast.Name) else f.value.attr) == "cuda"):
        return False
    device = next((k.value for k in (call.keywords if call else []) if k.arg == "device"), None)
    return not (isinstance(device, ast.Constant) and device.value is True)


def _same_source(a: str, b: str) -> bool:
    """The same code, comments and layout aside (inspect.getsource keeps trailing comments, ast does not)."""
    def code(s):
        try:
            return ast.dump(ast.parse(textwrap.dedent(s)))
        except SyntaxError:
            return None

    return code(a) is not None and code(a) == code(b)


def check_notebooks(log, notebooks) -> list[Compiled]:
    """A failed Compiled for every kernel the notebooks define that the log has no record of."""
    recorded = {}
    for rec in read_log(log):
        recorded.setdefault(rec.get("name"), []).append(rec.get("source", ""))
    results = []
    for name, source, where in notebook_kernels(notebooks):
        if any(_same_source(source, r) for r in recorded.get(name, [])):
            continue
        results.append(Compiled(name, where, "never launched", None, False,
                              "defined in this notebook but never launched while the kernel log was written, "
                              "so it was not compiled for a GPU.\nIf it is launched only when gv.on_gpu(), give "
                              "it a small launch in simulator mode too (a few threads are enough), so the "
                              f"log records it ({ENV})."))
    return results


# ---------------------------------------------------------------------------------------------
# The ladder of `gpuviz bench`: compiled as it is launched, with registers and occupancy
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Resources:
    """What ptxas reports for one kernel: registers per thread, bytes spilled to local memory (stores,
    loads), the stack frame, and its own count of shared memory per block (None where it prints none)."""
    registers: int
    spill_stores: int
    spill_loads: int
    stack: int
    shared: int | None = None

    @property
    def spills(self) -> int:
        return self.spill_stores + self.spill_loads


def resources(ptx: str, cc) -> Resources:
    """Assemble `ptx` for `cc` with ptxas and read its report. ptxas comes inside nvJitLink, which
    numba-cuda installs (so it matches the PTX version NVVM writes); else a `ptxas` on PATH."""
    try:
        log = _nvjitlink_log(ptx, cc)
    except ImportError:
        log = _ptxas_log(ptx, cc)
    return parse_ptxas(log)


def parse_ptxas(log: str) -> Resources:
    """Resources of the first entry function in a `ptxas -v` (or nvJitLink -verbose) report."""
    import re

    log = log[log.find("Compiling entry function"):] if "Compiling entry function" in log else log
    regs = re.search(r"[Uu]sed (\d+) registers", log)
    spill = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", log)
    stack = re.search(r"(\d+) bytes stack frame", log)
    smem = re.search(r"(\d+) bytes smem", log)
    if not (regs and spill):
        raise ValueError(f"no register report in ptxas' output:\n{log[:500]}")
    return Resources(int(regs.group(1)), int(spill.group(1)), int(spill.group(2)),
                     int(stack.group(1)) if stack else 0, int(smem.group(1)) if smem else None)


def _nvjitlink_log(ptx: str, cc) -> str:
    from cuda.bindings import nvjitlink

    opts = [f"-arch=sm_{cc[0]}{cc[1]}", "-verbose"]
    handle = nvjitlink.create(len(opts), opts)
    try:
        data = ptx.encode()
        try:
            nvjitlink.add_data(handle, nvjitlink.InputType.PTX, data, len(data), "kernel.ptx")
            nvjitlink.complete(handle)
        except nvjitlink.nvJitLinkError as e:
            size = nvjitlink.get_error_log_size(handle)
            buf = bytearray(size)
            nvjitlink.get_error_log(handle, buf)
            raise RuntimeError(f"ptxas (nvJitLink) refused the PTX: {buf.decode(errors='replace').strip()}") from e
        size = nvjitlink.get_info_log_size(handle)
        buf = bytearray(size)
        nvjitlink.get_info_log(handle, buf)
        return buf.decode(errors="replace")
    finally:
        nvjitlink.destroy(handle)


def _ptxas_log(ptx: str, cc) -> str:
    import shutil
    import tempfile

    exe = shutil.which("ptxas")
    if exe is None:
        raise RuntimeError("neither nvJitLink (cuda.bindings.nvjitlink) nor ptxas is installed, so registers "
                           "cannot be counted: pip install 'numba-cuda[cu13]'")
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "kernel.ptx")
        with open(src, "w") as f:
            f.write(ptx)
        p = subprocess.run([exe, f"-arch=sm_{cc[0]}{cc[1]}", "-v", src, "-o", os.path.join(d, "kernel.cubin")],
                           capture_output=True, text=True, timeout=300, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"{exe} refused the PTX: {p.stderr.strip()[:500]}")
    return p.stdout + p.stderr


@dataclasses.dataclass
class LadderRow:
    """One ladder kernel on one target: compiled, assembled, and how many of its blocks fit on an SM."""
    name: str
    cc: tuple
    ok: bool
    threads: int = 0
    shared: int = 0          # static shared memory per block, from the kernel's source
    res: Resources | None = None
    occ: object = None       # gpuviz.launch.Occupancy
    message: str = ""

    def line(self) -> str:
        target = f"sm_{self.cc[0]}{self.cc[1]}"
        if self.res is None:
            return f"FAILED {self.name:<14} {target}\n" + textwrap.indent(self.message, "         ")
        r, o = self.res, self.occ
        head = _LADDER_ROW.format("ok" if self.ok else "FAILED", self.name, target, r.registers,
                                  f"{r.spill_stores}/{r.spill_loads}", self.shared, self.threads, o.blocks,
                                  f"{o.fraction:.0%}", o.limiter)
        return head if self.ok else head + "\n" + textwrap.indent(self.message, "         ")


_LADDER_ROW = "{:<6} {:<14} {:<6} {:>5} {:>11} {:>7} {:>7} {:>6} {:>6}  {}"
LADDER_HEADER = _LADDER_ROW.format("", "kernel", "cc", "regs", "spill st/ld", "smem B", "threads", "blk/SM",
                                   "occup.", "limited by")


def check_ladder(ccs=DEFAULT_CCS, sizes=None) -> list[LadderRow]:
    """Compile every `gpuviz bench` kernel as bench launches it (three C-contiguous float32 matrices, its
    block, the grids of `sizes` validated against GPU limits), assemble it with ptxas for each cc, and
    work out its occupancy. A row fails if the kernel does not compile, spills registers to local
    memory, or fits fewer blocks per SM than its rung's `min_blocks_per_sm`."""
    from gpuviz import bench, launch
    from gpuviz import matmul_kernels as mk

    _require_real_target()
    rows = []
    for r in mk.LADDER:
        threads = math.prod(launch.dim3(r.block))
        shared = launch.static_shared_bytes(r.kernel.py_func) or 0
        for cc in ccs:
            cc = tuple(cc)
            row = LadderRow(r.name, cc, False, threads, shared)
            try:
                for n in sizes or bench.DEFAULT_SIZES:
                    launch.validate(r.grid(n, n), r.block, shared)
                with _compiling_for(cc):
                    row.res = resources(mk.ptx(r.name, cc), cc)
            except Exception as e:  # noqa: BLE001
                row.message = _first_lines(e)
                rows.append(row)
                continue
            row.occ = launch.occupancy(row.res.registers, threads, shared, cc)
            problems = []
            if row.res.spills:
                problems.append(f"spills registers to local memory ({row.res.spill_stores} bytes stored, "
                                f"{row.res.spill_loads} loaded per thread): use fewer values per thread")
            if row.occ.blocks < r.min_blocks_per_sm:
                problems.append(f"{row.occ.blocks} block(s) per SM, below the {r.min_blocks_per_sm} its rung "
                                f"promises ({row.occ.limiter} limit it): loosen the launch bounds' register cap "
                                "or shrink the tile")
            row.ok, row.message = not problems, "\n".join(problems)
            rows.append(row)
    return rows


def toolchain() -> str:
    """numba-cuda's version and the CUDA release of its NVVM, from the header of the PTX it writes."""
    import re
    from importlib import metadata

    from numba import cuda
    from numba import types as nt

    def probe(a):
        a[0] = 1

    ptx = cuda.compile_ptx(probe, (nt.float32[::1],), cc=DEFAULT_CCS[0])[0]
    release = re.search(r"release (\d+\.\d+)", ptx)
    return f"numba-cuda {metadata.version('numba-cuda')}, NVVM of CUDA {release.group(1) if release else '?'}"


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    """`gpuviz compile-check [LOG] [--notebooks DIR ...] [--ladder] [--cc 7.5 --cc 9.0]`: 0 if every
    kernel compiles for every target (and every notebook kernel was recorded, and the ladder fits)."""
    p = argparse.ArgumentParser(prog="gpuviz compile-check", description=__doc__.split("\n\n")[0])
    p.add_argument("log", nargs="?", help=f"kernel log written by runs with {ENV}=LOG")
    p.add_argument("--notebooks", nargs="+", metavar="PATH", default=[],
                   help="notebooks (or folders of them) the log was recorded from: each kernel they define "
                        "must have been launched (needs LOG)")
    p.add_argument("--ladder", action="store_true",
                   help="also the kernels of `gpuviz bench`, with registers, spills and blocks per SM")
    p.add_argument("--cc", action="append", metavar="MAJOR.MINOR",
                   help="compute capability to compile for (repeatable; default 7.5 and 9.0)")
    a = p.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        from gpuviz.runtime import env_without_simulator

        env = env_without_simulator()
        return subprocess.run([sys.executable, "-m", "gpuviz.course.compilecheck", *argv], env=env, check=False).returncode
    try:
        ccs = [tuple(int(x) for x in c.split(".")) for c in a.cc] if a.cc else list(DEFAULT_CCS)
    except ValueError:
        p.error("--cc takes MAJOR.MINOR, for example 7.5")
    if not a.log and not a.ladder:
        p.error("give a kernel log, --ladder, or both")
    if a.notebooks and not a.log:
        p.error("--notebooks needs the kernel log recorded from them")
    if a.ladder and any(cc not in _launch_limits() for cc in ccs):
        p.error(f"--ladder knows the SM limits of {', '.join(f'{x}.{y}' for x, y in _launch_limits())} only")
    if a.log and not os.path.exists(a.log):
        print(f"compile-check: no kernel log at {a.log}; run the notebooks with {ENV}={a.log} first",
              file=sys.stderr)
        return 2
    problem = _cannot_compile_here()
    if problem:
        print(f"compile-check: cannot compile PTX here ({problem}).\n"
              "Install numba-cuda with its CUDA libraries: pip install 'numba-cuda[cu13]'", file=sys.stderr)
        return 2
    print(f"compile-check: {toolchain()}")
    failed = 0
    if a.log:
        results = check_log(a.log, ccs) + check_notebooks(a.log, a.notebooks)
        for r in results:
            print(r.line())
        if not results:
            print(f"compile-check: {a.log} records no kernels; was the launch hook installed (gv.setup())?")
            return 1
        bad = [r for r in results if not r.ok]
        kernels = len({(r.name, r.origin, r.signature) for r in results if r.cc})
        print(f"{kernels} kernel(s) compiled for {', '.join(f'sm_{x}{y}' for x, y in ccs)}")
        print(f"compile-check: {len(results) - len(bad)} passed, {len(bad)} failed")
        failed += len(bad)
    if a.ladder:
        rows = check_ladder(ccs)
        print("gpuviz bench kernels, as launched (float32 C-contiguous A, B, C); registers per thread "
              "from ptxas:")
        print(LADDER_HEADER)
        for row in rows:
            print(row.line())
        bad = [row for row in rows if not row.ok]
        print(f"compile-check --ladder: {len(rows) - len(bad)} passed, {len(bad)} failed")
        failed += len(bad)
    return 1 if failed else 0


def _launch_limits():
    from gpuviz.launch import SM_LIMITS

    return SM_LIMITS


if __name__ == "__main__":
    raise SystemExit(main())
