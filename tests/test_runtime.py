import pytest
from helpers import run_python

from gpuviz import runtime


def test_setup_in_simulator_mode_prints_banner_and_seeds():
    p = run_python("""
        import gpuviz as gv
        info = gv.setup()
        import numpy as np, random, torch
        print(info.mode, gv.pick(gpu=4096, sim=64))
        a = (np.random.rand(), random.random(), float(torch.rand(1)))
        gv.seed(0)
        assert a == (np.random.rand(), random.random(), float(torch.rand(1))), "seeding is not reproducible"
        from numba import cuda
        print(type(cuda.get_current_device()).__module__)
    """, sim=False)
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert out[0] == runtime.SIM_BANNER
    assert out[1] == "sim 64"
    assert "simulator" in out[2]


def test_numba_imported_first_still_works():
    p = run_python("""
        import numba
        import gpuviz as gv
        print(gv.setup(quiet=True).mode)
        from numba import cuda
        print(type(cuda.get_current_device()).__module__)
    """, sim=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["sim", "numba.cuda.simulator.cudadrv.devices"]


def test_numba_cuda_imported_first_is_explained():
    p = run_python("""
        from numba import cuda
        import gpuviz as gv
        gv.setup()
    """, sim=False)
    assert p.returncode != 0
    assert "SetupError" in p.stderr and "restart the kernel" in p.stderr


def test_colab_cpu_runtime_says_how_to_get_a_gpu():
    p = run_python("""
        import sys, types
        sys.modules["google.colab"] = types.ModuleType("google.colab")
        import gpuviz as gv
        gv.setup()
    """, sim=False)
    assert p.returncode == 0, p.stderr
    assert "Runtime > Change runtime type" in p.stdout


def test_no_gpu_here():
    assert runtime.cuda_device_count() == 0


def test_info_banner_on_gpu():
    info = runtime.Info("gpu", "NVIDIA T4", (7, 5), 40, 15 * 2**30)
    assert info.banner == "GPU: NVIDIA T4, compute capability 7.5, 40 SMs, 15.0 GiB"


def test_import_is_light():
    p = run_python("""
        import sys, gpuviz
        heavy = [m for m in ("numba", "torch", "ipywidgets", "matplotlib") if m in sys.modules]
        print(heavy)
    """)
    assert p.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["setup", "pick", "benchmark", "LaunchError", "reference"])
def test_public_names(name):
    import gpuviz

    assert getattr(gpuviz, name) is not None
