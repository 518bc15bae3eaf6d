"""numgrad's garbage-collector threshold at import (numgrad/_gc.py)."""
import ast
import gc
import os
import subprocess
import sys

import pytest

from numgrad import _gc


@pytest.fixture
def restore_threshold():
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_import_raises_the_default_young_threshold():
    code = "import gc; before = gc.get_threshold(); import numgrad; print((before, gc.get_threshold()))"
    env = {k: v for k, v in os.environ.items() if k != "NUMGRAD_GC_THRESHOLD"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    before, after = ast.literal_eval(out.stdout.strip())
    assert before[0] in (700, 2000)
    assert after == (_gc.GEN0_THRESHOLD, *before[1:])


@pytest.mark.parametrize("default", [700, 2000])
def test_cpython_default_is_raised(monkeypatch, restore_threshold, default):
    monkeypatch.delenv("NUMGRAD_GC_THRESHOLD", raising=False)
    gc.set_threshold(default, 10, 10)
    _gc.configure_gc()
    assert gc.get_threshold() == (_gc.GEN0_THRESHOLD, 10, 10)


def test_a_threshold_the_program_chose_is_kept(monkeypatch, restore_threshold):
    monkeypatch.delenv("NUMGRAD_GC_THRESHOLD", raising=False)
    gc.set_threshold(1234, 5, 7)
    _gc.configure_gc()
    assert gc.get_threshold() == (1234, 5, 7)


def test_env_zero_leaves_the_collector_alone(monkeypatch, restore_threshold):
    monkeypatch.setenv("NUMGRAD_GC_THRESHOLD", "0")
    gc.set_threshold(700, 10, 10)
    _gc.configure_gc()
    assert gc.get_threshold() == (700, 10, 10)


def test_env_value_sets_the_threshold(monkeypatch, restore_threshold):
    monkeypatch.setenv("NUMGRAD_GC_THRESHOLD", "12345")
    gc.set_threshold(1234, 5, 7)
    _gc.configure_gc()
    assert gc.get_threshold() == (12345, 5, 7)


def test_env_value_that_is_not_an_integer_is_an_error(monkeypatch, restore_threshold):
    monkeypatch.setenv("NUMGRAD_GC_THRESHOLD", "lots")
    with pytest.raises(ValueError, match=r"NUMGRAD_GC_THRESHOLD must be an integer .*got 'lots'"):
        _gc.configure_gc()
