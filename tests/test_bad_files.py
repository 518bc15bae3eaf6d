"""Bad environments and bad files: numgrad gives a clear error or a correct result, and loses nothing.

* a read-only install run by a user whose HOME is not writable: numgrad's own
  ``@njit(cache=True)`` kernels cache in ``NUMGRAD_CACHE_DIR``;
* directories sitting where the kernel cache expects files are removed, once;
* ``ng.load`` of hostile or malformed checkpoints raises numgrad's own error.
"""
from __future__ import annotations

import glob
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import pytest
import torch

import numgrad as ng

PACKAGE_DIR = os.path.dirname(ng.__file__)

# one small program touching a fastmath function (expm1: the kernel of the original report), a generated
# reduction, a matmul and its backward, and an optimizer kernel
_PROGRAM = r"""
import json, warnings
warnings.simplefilter("always")
import numpy as np
import numgrad as ng
x = ng.tensor(np.linspace(-1, 1, 64, dtype=np.float32))
total = (x.expm1() * 3 + 1).tanh().sum().item()
lin = ng.nn.Linear(4, 2)
opt = ng.optim.SGD(lin.parameters(), lr=0.1)
lin(ng.ones(3, 4)).sum().backward()
opt.step()
info = ng.kernels.cache_info()
print(json.dumps({"total": total, "file": ng.__file__, "compiled": info["compiled"], "disk_hits": info["disk_hits"]}))
"""


def _expected_total() -> float:
    x = np.linspace(-1, 1, 64, dtype=np.float32)
    return float(np.tanh(np.expm1(x) * 3 + 1).sum())


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NUMBA_CACHE", "XDG_", "NUMGRAD_", "PYTHONPATH"))}
    env.update(extra)
    return env


def _run(argv_prefix, env, cwd, timeout=400):
    proc = subprocess.run(argv_prefix + [sys.executable, "-c", _PROGRAM], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


# ----------------------------------------------------------------- read-only install, HOME not writable
def _unprivileged_prefix(probe_dir: str):
    """A command prefix that runs a process for which file permissions hold, or a skip reason.

    As a non-root user: nothing.  As root: ``setpriv`` to the ``nobody`` user
    when that user can run this interpreter, else root without the
    capabilities that override permissions (``CAP_DAC_OVERRIDE``,
    ``CAP_DAC_READ_SEARCH``, ``CAP_FOWNER``): for permission checks that is an
    ordinary user owning root's files.
    """
    if not hasattr(os, "geteuid"):
        return None, "needs POSIX users and permissions"
    if os.geteuid() != 0:
        return [], None
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None, "running as root and setpriv (util-linux) is missing: no way to run as a non-root user"
    candidates = [
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"],
        [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--inh-caps=-all"],
    ]
    # the probe must import numba and must NOT be able to write into a read-only directory
    locked = os.path.join(probe_dir, "locked")
    os.mkdir(locked)
    os.chmod(locked, 0o555)
    probe = ("import numba, numpy, os, sys\n"
             f"try:\n    open(os.path.join({locked!r}, 'x'), 'w')\nexcept PermissionError:\n    sys.exit(0)\n"
             "sys.exit(3)")
    for prefix in candidates:
        try:
            proc = subprocess.run(prefix + [sys.executable, "-c", probe], capture_output=True, timeout=120,
                                  cwd=probe_dir)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.returncode == 0:
            return prefix, None
    return None, "no non-root user (or root without CAP_DAC_OVERRIDE) can run this interpreter here"


def _block_with_directory(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    os.makedirs(os.path.join(path, "inside"))


@pytest.mark.slow
def test_read_only_install_caches_in_numgrad_cache_dir_and_recovers_from_directories_in_the_cache():
    """One package copy, compiled once: first installed read-only for a user whose HOME is not writable
    (every kernel must run, numgrad's own cached under NUMGRAD_CACHE_DIR), then directories are put where
    cache files belong (a generated module and its code copy, Numba index and data files of generated and
    of numgrad's own kernels): each is removed and rebuilt in one run, with at most one warning each."""
    base = tempfile.mkdtemp(prefix="numgrad-ro-")
    try:
        os.chmod(base, 0o755)
        prefix, reason = _unprivileged_prefix(base)
        site = os.path.join(base, "site-packages")
        shutil.copytree(PACKAGE_DIR, os.path.join(site, "numgrad"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        home = os.path.join(base, "home")
        cache = os.path.join(base, "cache")
        os.mkdir(home)
        os.mkdir(cache)
        os.chmod(cache, 0o777)
        env = _clean_env(HOME=home, NUMGRAD_CACHE_DIR=cache, PYTHONPATH=site, PYTHONDONTWRITEBYTECODE="1")
        if prefix is not None:
            for root, dirs, files in os.walk(site):
                for name in files:
                    os.chmod(os.path.join(root, name), 0o444)
                os.chmod(root, 0o555)
            os.chmod(home, 0o555)
            own = os.path.join(cache, "numba", "*")  # numgrad's own kernels: NumgradCacheLocator's directory
        else:
            prefix = []  # no way to drop root's permissions here: only the recovery part runs, in-tree
            own = os.path.join(site, "numgrad", "kernels", "cpu", "__pycache__")

        first, err = _run(prefix, env, cwd=home)
        assert first["file"].startswith(site)
        assert "no locator" not in err and "Warning" not in err, err[-2000:]
        assert first["total"] == pytest.approx(_expected_total(), rel=1e-5)
        if reason is None:
            assert glob.glob(os.path.join(cache, "numba", "*", "fastmath.*.nbi")), os.listdir(cache)
            again, err = _run(prefix, env, cwd=home)
            assert again["compiled"] == 0 and again["disk_hits"] > 0, (again, err[-2000:])

        generated = os.path.join(cache, "__pycache__")
        victims = {
            # kernels the program calls directly (a fused kernel loaded from disk never touches its callees')
            "numgrad's own kernel index": lambda: glob.glob(os.path.join(own, "conv.linear_forward-*.nbi"))
            + glob.glob(os.path.join(own, "optim.sgd_step-*.nbi")),
            "generated module and its code copy": lambda: glob.glob(os.path.join(cache, "*.py"))
            + glob.glob(os.path.join(cache, "*.code")),
            "numba index": lambda: glob.glob(os.path.join(generated, "*.nbi")),
            "numba data": lambda: glob.glob(os.path.join(generated, "*.nbc")),
        }
        for victim, find in victims.items():
            paths = find()
            assert paths, victim
            for path in paths:
                _block_with_directory(path)
            if prefix:  # the unprivileged user must be able to remove what it finds there
                for path in paths:
                    for root, dirs, _ in os.walk(path):
                        os.chmod(root, 0o777)
            out, err = _run(prefix, env, cwd=home)
            assert out["total"] == first["total"], victim
            assert err.count("discarded a broken kernel cache entry") <= len(paths), (victim, err)
            assert "Traceback" not in err, (victim, err)
            assert all(os.path.isfile(p) for p in paths), f"{victim}: the directories were not replaced by files"
        last, err = _run(prefix, env, cwd=home)
        assert "Warning" not in err, err
        assert last["compiled"] == 0 and last["total"] == first["total"]
        if reason is not None:
            pytest.skip(f"recovery checked; the read-only install was not: {reason}")
    finally:
        for root, dirs, _ in os.walk(base):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        os.chmod(base, 0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_numgrad_locator_sits_after_numbas_own_and_answers_only_for_numgrad_files(tmp_path):
    from numba.core import caching

    from numgrad.kernels.cache import NumgradCacheLocator, cache_dir

    names = [c.__name__.lstrip("_") for c in caching.CacheImpl._locator_classes]
    assert names.index("NumgradCacheLocator") == names.index("InTreeCacheLocator") + 1
    assert names.index("UserProvidedCacheLocator") < names.index("NumgradCacheLocator")  # NUMBA_CACHE_DIR wins

    def f(x):
        return x

    outside = tmp_path / "user_code.py"
    outside.write_text("def f(x):\n    return x\n")
    assert NumgradCacheLocator.from_function(f, str(outside)) is None  # a user's file keeps Numba's rules
    mine = os.path.join(PACKAGE_DIR, "kernels", "cpu", "fastmath.py")
    locator = NumgradCacheLocator.from_function(f, mine)
    assert locator.get_cache_path().startswith(os.path.join(cache_dir(), "numba"))


# ----------------------------------------------------------------- hostile numgrad checkpoints
def _native_file(tmp_path, root, version=1, arrays=None, raw_structure=None):
    path = tmp_path / "hostile.npz"
    structure = raw_structure if raw_structure is not None else json.dumps(
        {"format": "numgrad-checkpoint", "version": version, "root": root})
    payload = dict(arrays or {"a0": np.arange(3, dtype=np.float32)})
    payload["__numgrad__"] = np.frombuffer(structure.encode(), dtype=np.uint8)
    np.savez(path, **payload)
    return path


_DEEP = "[" * 10000 + "]" * 10000

HOSTILE_STRUCTURES = {
    "string version": (dict(root=None, version="2"), "format version is '2'"),
    "float version": (dict(root=None, version=1.5), "format version is 1.5"),
    "10 000-deep list": (dict(root=None, raw_structure='{"format": "numgrad-checkpoint", "version": 1, "root": '
                                                      + _DEEP + "}"), "nested deeper than"),
    "list as dict key": (dict(root={"__dict__": [[[1, 2], 3]]}), "a dict key is a list"),
    "dict pairs not a list": (dict(root={"__dict__": "abc"}), "a dict entry holds str"),
    "tuple items not a list": (dict(root={"__tuple__": 5}), "a tuple entry holds int"),
    "device cuda:abc": (dict(root={"__tensor__": "a0", "device": "cuda:abc"}), "bad device entry 'cuda:abc'"),
    "device as a number": (dict(root={"__tensor__": "a0", "device": 7}), "bad device entry 7"),
    "array name as a list": (dict(root={"__tensor__": ["a0"]}), "missing array ['a0']"),
    "structure as an array": (dict(root={"__ndarray__": "__numgrad__"}), "missing array '__numgrad__'"),
    "no root": (dict(root=None, raw_structure='{"format": "numgrad-checkpoint", "version": 1}'), "has no root"),
    "unknown entry": (dict(root={"__code__": "import os"}), "unknown structure entry"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_STRUCTURES))
def test_hostile_structure_entries_raise_numgrads_own_error(tmp_path, case):
    kwargs, message = HOSTILE_STRUCTURES[case]
    path = _native_file(tmp_path, **kwargs)
    with pytest.raises(RuntimeError, match="numgrad.load: .* is not a valid numgrad checkpoint") as info:
        ng.load(path)
    assert message in str(info.value)


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "obj.npz"
    structure = json.dumps({"format": "numgrad-checkpoint", "version": 1, "root": {"__tensor__": "a0"}})
    np.savez(path, a0=np.array([{"x": 1}], dtype=object),
             __numgrad__=np.frombuffer(structure.encode(), dtype=np.uint8))
    with pytest.raises(RuntimeError, match="array 'a0' cannot be read"):
        ng.load(path)


def test_too_deep_containers_are_refused_on_save_with_a_clear_error(tmp_path):
    deep = []
    for _ in range(300):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper than 200 levels"):
        ng.save(deep, tmp_path / "deep.npz")


@pytest.mark.parametrize("dtype", [">f4", ">f8", ">i8", ">i4"])
def test_big_endian_arrays_load_in_native_byte_order_and_compute(tmp_path, dtype):
    values = np.array([[1.5, -2.0, 3.0], [4.0, 5.0, -6.0]]).astype(dtype)
    path = _native_file(tmp_path, {"__dict__": [["t", {"__tensor__": "a0"}], ["n", {"__ndarray__": "a0"}]]},
                        arrays={"a0": values})
    out = ng.load(path)
    t = out["t"]
    assert t.numpy().dtype.isnative and out["n"].dtype.isnative
    np.testing.assert_array_equal(t.numpy(), values.astype(values.dtype.newbyteorder("=")))
    np.testing.assert_array_equal((t * 2).sum(0).numpy(), (values * 2).sum(0))


# ----------------------------------------------------------------- hostile PyTorch checkpoints
class _Call:
    """Pickles as a call of ``func`` (a real function, or a name for the pickle) on ``args``."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _torch_zip(pkl: bytes, storages=None, byteorder=b"little") -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("archive/data.pkl", pkl)
        archive.writestr("archive/byteorder", byteorder)
        for key, data in (storages or {}).items():
            archive.writestr(f"archive/data/{key}", data)
        archive.writestr("archive/version", b"3\n")
    buf.seek(0)
    return buf


def _crafted(obj, storages=None, **kwargs) -> io.BytesIO:
    """A PyTorch zip checkpoint whose pickle is ``obj`` written by numgrad's torch pickler (torch's names)."""
    from numgrad.serialization import torch_format

    data = io.BytesIO()
    torch_format._TorchPickler(data).dump(obj)
    return _torch_zip(data.getvalue(), storages, **kwargs)


def _tensor_call(storage_key="0", location="cpu", numel=4, offset=0, size=(4,), stride=(1,)):
    from numgrad.serialization import torch_format as tf

    ref = tf._StorageRef(storage_key, "float32", location, numel)
    return _Call(tf._Global("torch._utils", "_rebuild_tensor_v2"), (ref, offset, size, stride, False, {}))


_FLOATS = {"0": np.arange(4, dtype="<f4").tobytes()}


def test_a_crafted_tensor_loads_so_the_hostile_cases_below_are_meaningful():
    out = ng.load(_crafted({"t": _tensor_call(offset=1, size=(3,))}, _FLOATS))
    np.testing.assert_array_equal(out["t"].numpy(), [1.0, 2.0, 3.0])


def test_code_in_a_pickle_never_runs(tmp_path):
    marker = tmp_path / "ran"
    for func, args in ((os.system, (f"touch {marker}",)), (eval, (f"open({str(marker)!r}, 'w')",)),
                       (subprocess.call, (["touch", str(marker)],))):
        buf = _torch_zip(pickle.dumps({"x": _Call(func, args)}, protocol=2))
        with pytest.raises(pickle.UnpicklingError, match="(is blocked|was not an allowed global)"):
            ng.load(buf)
        buf.seek(0)
        with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
            torch.load(buf)  # the same verdict as PyTorch's
    assert not marker.exists()


HOSTILE_PICKLES = {
    "list as dict key": (b"\x80\x02}]K\x01aK\x02s.", pickle.UnpicklingError, "unhashable type: 'list'"),
    "truncated": (b"\x80\x02]K\x01", pickle.UnpicklingError, "truncated"),
    "stack underflow": (b"\x80\x02a.", pickle.UnpicklingError, "malformed pickle"),
    "missing memo entry": (b"\x80\x02h\x07.", pickle.UnpicklingError, "malformed pickle"),
    "append to a dict": (b"\x80\x02}K\x01a.", pickle.UnpicklingError, "Can only APPEND"),
    "unknown opcode": (b"\x80\x02\xff.", pickle.UnpicklingError, "Unsupported operand 255"),
    "instance creation": (b"\x80\x02ccollections\nOrderedDict\n)\x81.", pickle.UnpicklingError,
                          "Can only create new object"),
    "build a plain dict": (b"\x80\x02}}b.", pickle.UnpicklingError, "Can only build"),
    "dtype called": (b"\x80\x02ctorch\nfloat32\n)R.", pickle.UnpicklingError, "unrecognized function"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_PICKLES))
def test_malformed_pickles_raise_a_named_unpickling_error(case):
    pkl, error, message = HOSTILE_PICKLES[case]
    with pytest.raises(error, match="numgrad.load: ") as info:
        ng.load(_torch_zip(pkl))
    assert message in str(info.value)


def test_a_10000_deep_list_loads_without_recursion():
    depth = 10000
    out = ng.load(_torch_zip(b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."))
    for _ in range(depth - 1):
        assert type(out) is list and len(out) == 1
        out = out[0]
    assert out == []


HOSTILE_TENSORS = {
    "past the end of the storage": (dict(offset=2, size=(4,)), "reads past the end of its storage"),
    "negative stride": (dict(offset=3, stride=(-1,)), "bad tensor layout"),
    "negative offset": (dict(offset=-1), "bad tensor layout"),
    "location cuda:abc": (dict(location="cuda:abc"), "bad storage location 'cuda:abc'"),
    "storage bigger than its bytes": (dict(numel=5, size=(5,)), "holds 16 bytes, its tensors need 20"),
    "missing storage record": (dict(storage_key="7"), "storage '7' is missing"),
    "storage key with a path": (dict(storage_key="../x"), "bad storage entry"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TENSORS))
def test_hostile_tensor_entries_raise_numgrads_own_error(case):
    kwargs, message = HOSTILE_TENSORS[case]
    with pytest.raises((RuntimeError, pickle.UnpicklingError), match="numgrad.load: ") as info:
        ng.load(_crafted([_tensor_call(**kwargs)], _FLOATS))
    assert message in str(info.value)


def test_a_torch_device_cuda_abc_is_refused_by_name():
    from numgrad.serialization import torch_format as tf

    with pytest.raises(pickle.UnpicklingError, match="bad torch.device 'cuda:abc'"):
        ng.load(_crafted({"d": _Call(tf._Global("torch", "device"), ("cuda:abc",))}))


def test_big_endian_pytorch_checkpoint_is_byte_swapped_on_load():
    values = np.array([1.5, -2.0, 3.25, 8.0], dtype=np.float32)
    out = ng.load(_crafted({"t": _tensor_call()}, {"0": values.astype(">f4").tobytes()}, byteorder=b"big"))
    assert out["t"].numpy().dtype.isnative
    np.testing.assert_array_equal(out["t"].numpy(), values)
    np.testing.assert_array_equal((out["t"] * 2).numpy(), values * 2)
    with pytest.raises(RuntimeError, match="unknown byte order"):
        ng.load(_crafted({"t": _tensor_call()}, _FLOATS, byteorder=b"middle"))


def test_garbage_and_truncated_files_get_named_errors(tmp_path):
    buf = io.BytesIO()
    torch.save({"w": torch.ones(64)}, buf)
    data = buf.getvalue()
    for bad in (data[: len(data) // 2], b"\x80\x02garbage", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}!!!!!!"):
        with pytest.raises((RuntimeError, pickle.UnpicklingError), match="numgrad.load: "):
            ng.load(io.BytesIO(bad))


def test_a_legacy_checkpoint_claiming_a_huge_storage_allocates_nothing():
    from numgrad.serialization import torch_format as tf

    buf = io.BytesIO()
    torch.save({"w": torch.ones(3)}, buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    # the storage's element count (3, a BININT1 after the 'cpu' location) becomes 2**40
    at = data.index(b"X\x03\x00\x00\x00cpuq") + 10  # after BINPUT's index: BININT1 3
    assert data[at:at + 2] == b"K\x03"
    hostile = data[:at] + b"\x8a\x06\x00\x00\x00\x00\x00\x01" + data[at + 2:]
    with pytest.raises((RuntimeError, pickle.UnpicklingError), match="more than the file holds"):
        tf.load_legacy(hostile, "'hostile.pt'", None, True)
