import pytest
import torch


@pytest.fixture(autouse=True)
def torch_on_one_thread():
    """The reference runs use one torch thread: on a busy 2-core machine torch's intra-op threads wait on each
    other (measured 18 ms against 0.7 ms a step for polynomial_optim's (2000, 3) @ (3, 1))."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def backend_flags_restored():
    """Ported scripts set global flags (dcgan: ``cudnn.benchmark = True``) in both libraries; later tests see the
    defaults again."""
    import numgrad

    saved = [(mod, {k: getattr(mod, k) for k in ("enabled", "benchmark", "deterministic")})
             for mod in (numgrad.backends.cudnn, torch.backends.cudnn)]
    yield
    for mod, flags in saved:
        for k, v in flags.items():
            setattr(mod, k, v)
