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
    assert out[0] == runtime.SIM_BANNER + ". torch: CPU only"
    assert out[1] == runtime.NO_GPU_HOWTO            # the way to a GPU, once, under the banner
    assert out[2] == "sim 64"
    assert "simulator" in out[3]


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
    info = runtime.Info("gpu", "NVIDIA T4", (7, 5), 40, 15 * 2**30, torch_cuda=True)
    assert info.banner == "GPU: NVIDIA T4, compute capability 7.5, 40 SMs, 15.0 GiB. torch: CUDA"


def test_banner_states_torch_apart_from_numba():
    # a CPU build of torch on a GPU machine: Numba's kernels run on the GPU, torch's work on the CPU
    info = runtime.Info("gpu", "NVIDIA T4", (7, 5), 40, 15 * 2**30, torch_cuda=False)
    assert info.banner.endswith("torch: CPU only")


def test_gpu_that_cannot_run_a_kernel_falls_back_to_the_simulator_with_the_fix(tmp_path):
    # the driver reports a GPU, but the toolkit is newer than the driver: the first launch would fail
    p = run_python("""
        from gpuviz import runtime, doctor
        runtime.cuda_device_count = lambda: 1
        doctor.driver_cuda_version = lambda: (12, 4)
        runtime.smoke_test = lambda timeout: (False, "LinkerError: CUDA_ERROR_UNSUPPORTED_PTX_VERSION")
        info = runtime.setup()
        print(info.mode)
    """, sim=False, XDG_CACHE_HOME=str(tmp_path))
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert out[-1] == "sim"
    assert "Numba could not run a test kernel" in p.stdout and 'pip install -U "numba-cuda[cu12]"' in p.stdout


def test_gpu_proof_is_remembered(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []
    monkeypatch.setattr(runtime, "smoke_test", lambda timeout: calls.append(1) or (True, "kernel ok"))
    assert runtime.gpu_usable() == (True, None)
    assert runtime.gpu_usable() == (True, None)
    assert calls == [1]                        # the second setup() costs no test kernel
    monkeypatch.setattr(runtime, "smoke_test", lambda timeout: (False, "something else entirely"))
    for f in tmp_path.rglob("gpu-proof-*"):
        f.unlink()
    ok, why = runtime.gpu_usable()
    assert not ok and "gpuviz doctor" in why and "something else entirely" in why


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


def test_torch_lessons_follow_torch_and_kernel_lessons_follow_numba():
    # the simulator forced on a machine where torch has CUDA: kernels in the simulator, torch on the GPU
    p = run_python("""
        import torch
        torch.cuda.is_available = lambda: True
        import gpuviz as gv
        info = gv.setup(quiet=True)
        print(info.mode, gv.on_gpu(), gv.torch_on_gpu(), gv.pick(gpu="big", sim="small"))
        gv.setup(quiet=True, lib="torch")
        print(gv.on_gpu(), gv.pick(gpu="big", sim="small"), gv.torch_device())
    """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["sim False True small", "True big cuda"]


def test_setup_refuses_an_unknown_library():
    with pytest.raises(ValueError, match='"numba" or "torch"'):
        runtime.setup(lib="jax")
