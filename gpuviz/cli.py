"""The `gpuviz` command: one subcommand per tool, each a module with `main(argv) -> int`."""
from __future__ import annotations

import sys
from importlib import import_module

COMMANDS = {
    "doctor": ("doctor", "check that the course can run here, and say how to fix it if not"),
    "student": ("course.student", "build student notebooks from the instructor sources"),
    "grade": ("course.grade", "grade submitted notebooks into a CSV"),
    "bench": ("bench", "time the matmul ladder against cuBLAS on a GPU (--quick: check it anywhere)"),
    "compile-check": ("course.compilecheck", "compile recorded kernels to PTX for real GPUs (sm_75, sm_90)"),
}


def usage() -> str:
    rows = "\n".join(f"  {name:<14} {help_}" for name, (_, help_) in COMMANDS.items())
    return f"usage: gpuviz COMMAND [ARGS]\n\ncommands:\n{rows}\n\n`gpuviz COMMAND --help` for a command's options."


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"gpuviz: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return import_module(f"gpuviz.{COMMANDS[name][0]}").main(rest) or 0


if __name__ == "__main__":
    raise SystemExit(main())
