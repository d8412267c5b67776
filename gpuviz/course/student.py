"""Student versions of the instructor notebooks: `gpuviz student course/solutions --out notebooks`.

In every cell, the lines from `### BEGIN SOLUTION` to `### END SOLUTION` become `# YOUR CODE HERE`
and, inside a function, `raise NotImplementedError()` at the region's indentation (outside a function
a raise would stop the learner's notebook, so a top-level region only keeps the comment, and `pass`
where a block needs a statement). A function may hold several regions, one per step of a commented
skeleton (the comments between them are kept): only its first region raises, so the untouched stub
says "not done", while a skeleton filled step by step runs and its check names the next missing
step; the later regions keep the comment, and `pass` where a block needs a statement. In markdown
cells the region becomes "YOUR ANSWER HERE". Lines
from `### BEGIN HIDDEN TESTS` to `### END HIDDEN TESTS` are removed. Outputs and execution counts are
cleared. Everything else, metadata included, is left exactly as it is.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
_BLOCK_OPENER = re.compile(r"^\s*(def|async\s+def|class|if|elif|else|for|while|with|try|except|finally)\b.*:\s*(#.*)?$")


class MarkerError(ValueError):
    """Unbalanced or nested BEGIN/END markers."""


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]


def _enclosing_def(lines: list[str], at: int, indent: str) -> int | None:
    """The index of the def that line `at` (indented `indent`) is inside, or None. Walk outwards through
    the enclosing blocks."""
    width = len(indent)
    for i in range(at - 1, -1, -1):
        line = lines[i]
        if line.strip() and not line.lstrip().startswith("#") and len(_indent(line)) < width:
            if re.match(r"\s*(async\s+)?def\b", line):
                return i
            width = len(_indent(line))
    return None


def _opens_empty_block(kept: list[str], indent: str) -> bool:
    """Does the last statement kept so far open a block that has no statement yet at `indent`?"""
    code = [ln for ln in kept if ln.strip() and not ln.lstrip().startswith("#")]
    return bool(indent and code and len(_indent(code[-1])) < len(indent) and _BLOCK_OPENER.match(code[-1]))


def _replacement(kept: list[str], indent: str, markdown: bool, raised: set[int]) -> list[str]:
    """The lines that replace a solution region; `raised` holds the defs whose stub raises already."""
    if markdown:
        return [f"{indent}YOUR ANSWER HERE"]
    out = [f"{indent}# YOUR CODE HERE"]
    where = _enclosing_def(kept, len(kept), indent)
    if where is not None and where not in raised:
        raised.add(where)
        out.append(f"{indent}raise NotImplementedError()")
    elif _opens_empty_block(kept, indent):
        out.append(f"{indent}pass")
    return out


def strip_source(source: str, markdown: bool = False) -> str:
    """A cell's source with solution regions replaced and hidden tests removed."""
    kept: list[str] = []
    region = None                     # (kind, indent) while inside a region
    raised: set[int] = set()          # the defs (their line in `kept`) whose first region raises
    for n, line in enumerate(source.split("\n"), 1):
        mark = line.strip()
        if mark in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            if region:
                raise MarkerError(f"line {n}: {mark} inside another region")
            region = (mark, _indent(line))
        elif mark in (END_SOLUTION, END_HIDDEN):
            expected = END_SOLUTION if region and region[0] == BEGIN_SOLUTION else END_HIDDEN
            if not region or mark != expected:
                raise MarkerError(f"line {n}: {mark} without its BEGIN")
            if region[0] == BEGIN_SOLUTION:
                kept += _replacement(kept, region[1], markdown, raised)
            region = None
        elif not region:
            kept.append(line)
    if region:
        raise MarkerError(f"{region[0]} is never closed")
    return "\n".join(kept)


def student_notebook(nb):
    """A student copy of a notebook node (the argument is left unchanged)."""
    import copy

    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type in ("code", "markdown"):
            cell.source = strip_source(cell.source, markdown=cell.cell_type == "markdown")
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return out


def build(source_dir: Path, out_dir: Path) -> list[Path]:
    """Write the student version of every notebook in `source_dir` to `out_dir` (same file names)."""
    import nbformat

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sorted(source_dir.glob("*.ipynb")):
        nb = nbformat.read(src, as_version=4)
        dst = out_dir / src.name
        try:
            text = nbformat.writes(student_notebook(nb)) + "\n"
        except MarkerError as e:
            raise MarkerError(f"{src}: {e}") from None
        if not dst.exists() or dst.read_text(encoding="utf-8") != text:
            dst.write_text(text, encoding="utf-8")
        written.append(dst)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="gpuviz student", description=__doc__.split("\n\n")[0])
    p.add_argument("source_dir", type=Path, help="instructor notebooks, e.g. course/solutions")
    p.add_argument("--out", type=Path, required=True, help="where the student notebooks go, e.g. notebooks")
    args = p.parse_args(argv)
    if not args.source_dir.is_dir():
        print(f"gpuviz student: {args.source_dir} is not a directory", file=sys.stderr)
        return 2
    try:
        written = build(args.source_dir, args.out)
    except MarkerError as e:
        print(f"gpuviz student: {e}", file=sys.stderr)
        return 1
    print(f"{len(written)} student notebook(s) in {args.out}: " + ", ".join(p.name for p in written))
    return 0
