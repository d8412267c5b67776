"""gpuviz: views, checks and tools for a workbook that teaches GPU computing for deep learning.

`import gpuviz as gv` stays light: numba, torch and ipywidgets load only when a function needs them.
The learner's API is `gv.<name>` for the names in _EXPORTS below; everything else is reached through its module.

The map of the package, by role:

Running here, simulator or GPU
    runtime        gv.setup(): choose the simulator or the GPU, prove the GPU works, gv.pick sizes by mode
    doctor         `gpuviz doctor`: what this machine can run, and the fix for what it cannot
    launch         the launch limits of real GPUs (threads, blocks, shared memory, registers), occupancy
    hooks          every kernel launch validated, counted and announced to subscribers
    kernelrecord   a kernel captured as a record where it runs, compiled for a GPU that need not be here
    tracer/        gv.trace: run a kernel thread by thread on the CPU; races, bounds, coalescing, conflicts

What the lessons teach, one topic each
    timing         gv.benchmark: time a function (CUDA events on a GPU), launch overhead, CPU copy bandwidth, plots
    roofline       the roofline model and the datasheets of the course's GPUs (SPECS, with FP32 lanes per SM)
    predict        what the datasheet predicts for a size: the roofline model, labelled as a prediction
    series         one honest label per series: measured here, recorded, predicted, published
    reference      results recorded on real GPUs (gpuviz/reference/*.json), with device and date
    hardware       this machine's CPU and GPU, measured: bandwidth, peak FLOP/s, power
    matmul_kernels the ladder of matrix-multiply kernels of lessons 04-05
    bench          `gpuviz bench`: time the ladder against cuBLAS
    data           the datasets, downloaded once or found offline
    training       the training loops of lessons 08-09
    memory         what a model needs in memory, estimated and measured; out-of-memory, explained
    ddp            lesson 12: data-parallel training over processes
    tritonkit      lesson 13: Triton in its interpreter without a GPU, bounds checks, compile reports

Seeing it
    views          figures: threads, blocks, warps, memory accesses (data in, Figure out)
    widgets        every ipywidgets control of the course

Checking it
    exercises/     gv.check("ID", answer): the exercise registry, one module per lesson, the end-of-lesson
                   questionnaires, and the checks; gv.hint("ID"): an exercise's next hint (exercises/hints.py)

The course toolchain (instructors and maintainers; no notebook imports it)
    course/        student versions, grading, the manifest, conventions, the compile check, notebook runs
    cli            the `gpuviz` command
"""
from importlib import import_module

__version__ = "0.1.0"

# public name -> (module, attribute); a None attribute exports the module itself
_EXPORTS = {
    "setup": ("runtime", "setup"),
    "pick": ("runtime", "pick"),
    "seed": ("runtime", "seed"),
    "info": ("runtime", "info"),
    "on_gpu": ("runtime", "on_gpu"),
    "torch_on_gpu": ("runtime", "torch_on_gpu"),
    "torch_device": ("runtime", "torch_device"),
    "LaunchError": ("launch", "LaunchError"),
    "validate_launch": ("launch", "validate"),
    "benchmark": ("timing", "benchmark"),
    "launch_count": ("hooks", "launch_count"),
    "timing": ("timing", None),
    "reference": ("reference", None),
    "series": ("series", None),
    "predict": ("predict", None),
    "data": ("data", None),
    "memory": ("memory", None),
    "training": ("training", None),
    "trace": ("tracer", "trace"),
    "kernel_source": ("tracer.kernelsource", "source"),
    "kernel_ptx": ("kernelrecord", "kernel_ptx"),
    "kernels_ptx": ("kernelrecord", "kernels_ptx"),
    "Problem": ("tracer", "Problem"),
    "check": ("exercises.check", "check"),
    "CheckFailed": ("exercises.check", "CheckFailed"),
    "passed": ("exercises.check", "passed"),
    "hint": ("exercises.hints", "hint"),
    "views": ("views", None),
    "widgets": ("widgets", None),
    "runtime": ("runtime", None),
    "ddp": ("ddp", None),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gpuviz' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    mod = import_module(f"gpuviz.{module}")
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
