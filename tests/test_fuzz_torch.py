"""The differential fuzzer (tests/fuzz_programs.py) in CI: 500 seeded programs against torch.

Fusion off runs more programs (its per-op kernels are shared); fusion on compiles a
fused kernel for most new program shapes, so it runs fewer. Run thousands locally with
``python -m tests.fuzz_programs --seeds 0:5000``.
"""
from __future__ import annotations

import pytest
import torch

import numgrad as ng
from tests.fuzz_programs import check

# in chunks, so pytest-xdist's workers share the programs (one test per mode ran 33 s alone)
CHUNKS = ([(False, range(start, start + 70)) for start in range(0, 350, 70)]
          + [(True, range(start, start + 50)) for start in range(10_000, 10_150, 50)])


@pytest.fixture
def fusion(request):
    before = ng.is_fusion_enabled()
    ng.set_fusion(request.param)
    yield request.param
    ng.set_fusion(before)


@pytest.mark.parametrize("fusion, seeds", CHUNKS, indirect=["fusion"],
                         ids=[f"fusion-{'on' if on else 'off'}-{seeds.start}" for on, seeds in CHUNKS])
def test_numgrad_agrees_with_torch_on_random_programs(fusion, seeds):
    reports = [r for r in (check(seed, ng, torch) for seed in seeds) if r]
    assert not reports, f"{len(reports)} programs disagree with torch:\n\n" + "\n\n".join(reports[:5])
