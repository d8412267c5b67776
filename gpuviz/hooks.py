"""Launch hooks on Numba's kernel objects, installed by `gv.setup()`.

Every `kernel[griddim, blockdim]` is validated against real GPU limits, in the simulator as on a
GPU, so both modes give the same clear error. Every launch is then announced to the subscribers:
Numba's launches, the tracer's (`gv.trace`) and Triton's (gpuviz.tritonkit). gpuviz knows none of
them by name: a package subscribes through the `gpuviz.launch` entry point group, a function that
calls `subscribe(fn)` or not. The course's compile check subscribes there (gpuviz.course.compilecheck).
"""
from __future__ import annotations

import functools
import sys

from gpuviz import launch
from gpuviz.tracer.kernelsource import python_function

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


_subscribers: list = []
_plugins_loaded = False


def subscribe(fn) -> None:
    """Call `fn(kernel, args, kwargs)` after every launch in this process (kwargs: Triton's meta-parameters)."""
    if fn not in _subscribers:
        _subscribers.append(fn)


def unsubscribe(fn) -> None:
    if fn in _subscribers:
        _subscribers.remove(fn)


def _load_plugins() -> None:
    """Let every installed `gpuviz.launch` entry point subscribe, once per process."""
    global _plugins_loaded
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="gpuviz.launch"):
        try:
            ep.load()()
        except Exception as e:  # noqa: BLE001  a broken plugin must not stop a learner's launch
            print(f"gpuviz: the launch subscriber {ep.value} failed to load: {type(e).__name__}: {e}", file=sys.stderr)


def launched(kernel, args, kwargs=None) -> None:
    """Tell every subscriber about a launch."""
    if not _plugins_loaded:
        _load_plugins()
    for fn in _subscribers:
        fn(kernel, args, kwargs or {})


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
                launched(self, args)
            return call(self, *args)
    else:
        def recorded_call(self, *args):
            global _launches
            _launches += 1
            launched(self.dispatcher, args)
            return call(self, *args)

    dispatcher_cls.__getitem__ = functools.wraps(getitem)(checked_getitem)
    launch_cls.__call__ = functools.wraps(call)(recorded_call)
    _installed = True
