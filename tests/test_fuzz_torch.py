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

RUNS = {False: range(0, 350), True: range(10_000, 10_150)}


@pytest.fixture
def fusion(request):
    before = ng.is_fusion_enabled()
    ng.set_fusion(request.param)
    yield request.param
    ng.set_fusion(before)


@pytest.mark.parametrize("fusion", [False, True], indirect=True, ids=["fusion-off", "fusion-on"])
def test_numgrad_agrees_with_torch_on_random_programs(fusion):
    reports = [r for r in (check(seed, ng, torch) for seed in RUNS[fusion]) if r]
    assert not reports, f"{len(reports)} programs disagree with torch:\n\n" + "\n\n".join(reports[:5])
