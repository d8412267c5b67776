"""gpuviz: views, checks and tools for a workbook that teaches GPU computing for deep learning.

`import gpuviz as gv` stays light: numba, torch and ipywidgets load only when a function needs them.
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
    "Problem": ("sanitizer", "Problem"),
    "CheckFailed": ("check", "CheckFailed"),
    "passed": ("check", "passed"),
    "views": ("views", None),
    "widgets": ("widgets", None),
    "runtime": ("runtime", None),
    "ddp": ("ddp", None),
}

# Functions named like their module are imported now (both modules are light): importing the
# submodule later would otherwise rebind the package attribute to the module.
from gpuviz.check import check  # noqa: E402,F401
from gpuviz.trace import trace  # noqa: E402,F401

__all__ = sorted([*_EXPORTS, "check", "trace"])


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
