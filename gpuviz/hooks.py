"""Launch hooks on Numba's kernel objects, installed by `gv.setup()`.

Every `kernel[griddim, blockdim]` is validated against real GPU limits, in the simulator as on a
GPU, so both modes give the same clear error. When GPUVIZ_KERNEL_LOG names a file, every launch
is also recorded for the compile-for-GPU check (gpuviz.compilecheck).
"""
from __future__ import annotations

import functools
import os

from gpuviz import launch
from gpuviz.kernelsource import python_function

_installed = False
_launches = 0


def launch_count() -> int:
    """Kernel launches (`kernel[grid, block](...)`, not `gv.trace`) in this process since `gv.setup()`, in
    either mode: count a step's launches by taking the difference."""
    return _launches


@functools.lru_cache(maxsize=None)
def _shared_bytes(pyfunc):
    return launch.static_shared_bytes(pyfunc)


def _validate(pyfunc, config) -> None:
    if not isinstance(config, tuple) or len(config) < 2:
        return  # let Numba report a malformed configuration in its own words
    launch.validate(config[0], config[1], _shared_bytes(pyfunc))


def record(kernel, args) -> None:
    """Log a launch for the compile-for-GPU check, when GPUVIZ_KERNEL_LOG names a file."""
    if os.environ.get("GPUVIZ_KERNEL_LOG"):
        from gpuviz import compilecheck

        compilecheck.record(kernel, args)


def install() -> None:
    """Wrap the launch paths of whichever Numba CUDA target is active. Idempotent."""
    global _installed
    if _installed:
        return
    from numba.cuda.core import config

    if config.ENABLE_CUDASIM:
        from numba.cuda.simulator.kernel import FakeCUDAKernel as dispatcher_cls

        launch_cls = dispatcher_cls
    else:
        from numba.cuda.dispatcher import CUDADispatcher as dispatcher_cls
        from numba.cuda.dispatcher import _LaunchConfiguration as launch_cls

    getitem = dispatcher_cls.__getitem__
    call = launch_cls.__call__

    def checked_getitem(self, config):
        _validate(python_function(self), config)
        return getitem(self, config)

    if launch_cls is dispatcher_cls:  # the simulator: the configured kernel is called directly
        from numba.cuda.simulator.kernel import _get_kernel_context

        def recorded_call(self, *args):
            global _launches
            if not (self._device or _get_kernel_context()):
                _launches += 1
                record(self, args)
            return call(self, *args)
    else:
        def recorded_call(self, *args):
            global _launches
            _launches += 1
            record(self.dispatcher, args)
            return call(self, *args)

    dispatcher_cls.__getitem__ = functools.wraps(getitem)(checked_getitem)
    launch_cls.__call__ = functools.wraps(call)(recorded_call)
    _installed = True
