"""The course toolchain, for instructors and maintainers: no notebook imports it.

    conventions  the rules every lesson notebook follows (layout, setup cell, exercise cells)
    manifest     course/manifest.json: lessons, exercises and points, synced from the sources
    student      student versions of the instructor notebooks (solutions stripped to stubs)
    grade        `gpuviz grade`: run submissions in a sandbox and write the marks CSV
    verdict      the signed channel from a submission's checks to the grader, re-checked in a fresh process
    compilecheck `gpuviz compile-check`: compile every recorded kernel to PTX for real GPUs
    compileproof a passed kernel check must also compile for a GPU
    nbrun        execute a notebook with progress and a per-cell status file (scripts/gpu-reference)
"""
