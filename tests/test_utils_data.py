"""numgrad.utils.data against torch.utils.data: same batches for the same index order, samplers, collation,
splits, iterable datasets and argument errors."""
from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import numgrad as ng
import numgrad.data
import numgrad.utils.data as nud


def _pair(n=7):
    x = np.arange(3.0 * n, dtype=np.float32).reshape(n, 3)
    y = np.arange(n)
    return nud.TensorDataset(ng.tensor(x), ng.tensor(y)), tud.TensorDataset(torch.tensor(x), torch.tensor(y))


def _same(a, b):
    """Structure and values of a numgrad batch equal those of a torch batch."""
    if isinstance(b, torch.Tensor):
        assert isinstance(a, ng.Tensor), type(a)
        assert a.shape == tuple(b.shape) and str(a.dtype).split(".")[1] == str(b.dtype).split(".")[1]
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    elif isinstance(b, dict):
        assert type(a) is type(b) and list(a) == list(b)
        for k in b:
            _same(a[k], b[k])
    elif isinstance(b, (list, tuple)):
        assert type(a).__name__ == type(b).__name__ and len(a) == len(b), (type(a), type(b))
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert a == b


def test_numgrad_data_is_the_same_module_objects():
    assert numgrad.data.DataLoader is nud.DataLoader and numgrad.data.TensorDataset is nud.TensorDataset
    assert ng.utils.data.random_split is nud.random_split


@pytest.mark.parametrize("kw", [dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=None),
                                dict(batch_size=7)])
def test_sequential_batches_match_torch(kw):
    ours, theirs = _pair()
    got, want = list(nud.DataLoader(ours, **kw)), list(tud.DataLoader(theirs, **kw))
    assert len(got) == len(want) == len(nud.DataLoader(ours, **kw)) == len(tud.DataLoader(theirs, **kw))
    for a, b in zip(got, want):
        _same(a, b)


def test_same_index_order_gives_same_batches():
    """A sampler fixes the order: numgrad and torch then produce the same batches (generic and gather paths)."""
    order = [5, 0, 3, 6, 1]
    ours, theirs = _pair()
    for ds_ours, ds_theirs in ((ours, theirs), (nud.Subset(ours, range(7)), tud.Subset(theirs, range(7)))):
        got = list(nud.DataLoader(ds_ours, batch_size=2, sampler=order))
        want = list(tud.DataLoader(ds_theirs, batch_size=2, sampler=order))
        for a, b in zip(got, want):
            _same(a, b)
    bs = [[4, 2], [0], [6, 5, 1]]
    for a, b in zip(nud.DataLoader(ours, batch_sampler=bs), tud.DataLoader(theirs, batch_sampler=bs)):
        _same(a, b)


def test_shuffle_is_a_seeded_permutation_each_epoch():
    ours, _ = _pair(20)
    loader = nud.DataLoader(ours, batch_size=6, shuffle=True, generator=np.random.default_rng(0))
    epochs = [np.concatenate([y.numpy() for _, y in loader]) for _ in range(2)]
    assert sorted(epochs[0]) == list(range(20)) and list(epochs[0]) != list(epochs[1])
    again = nud.DataLoader(ours, batch_size=6, shuffle=True, generator=np.random.default_rng(0))
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in again]), epochs[0])
    ng.manual_seed(4)
    first = [y.tolist() for _, y in nud.DataLoader(ours, batch_size=6, shuffle=True)]
    ng.manual_seed(4)
    assert first == [y.tolist() for _, y in nud.DataLoader(ours, batch_size=6, shuffle=True)]


def test_samplers_semantics():
    data = list(range(10))
    assert list(nud.SequentialSampler(data)) == list(tud.SequentialSampler(data))
    perm = list(nud.RandomSampler(data, generator=1))
    assert sorted(perm) == data and len(nud.RandomSampler(data)) == 10
    longer = list(nud.RandomSampler(data, num_samples=25, generator=1))
    assert len(longer) == 25 and sorted(longer[:10]) == data and sorted(longer[10:20]) == data
    assert len(set(longer[20:])) == 5  # the partial last permutation has no repeats, as in torch
    repl = list(nud.RandomSampler(data, replacement=True, num_samples=50, generator=1))
    assert len(repl) == 50 and set(repl) <= set(data) and len(set(repl)) < 50
    assert sorted(nud.SubsetRandomSampler([3, 8, 1], generator=2)) == [1, 3, 8]
    w = list(nud.WeightedRandomSampler([0.0, 0.0, 1.0, 0.0], 6, generator=0))
    assert w == [2] * 6 == list(tud.WeightedRandomSampler([0.0, 0.0, 1.0, 0.0], 6))
    no_repl = list(nud.WeightedRandomSampler([1.0, 2.0, 3.0], 3, replacement=False, generator=0))
    assert sorted(no_repl) == [0, 1, 2]
    for drop in (False, True):
        assert list(nud.BatchSampler(data, 4, drop)) == list(tud.BatchSampler(data, 4, drop))
        assert len(nud.BatchSampler(data, 4, drop)) == len(tud.BatchSampler(data, 4, drop))
    loader = nud.DataLoader(nud.TensorDataset(ng.arange(10)), batch_size=4,
                            sampler=nud.RandomSampler(data, replacement=True, num_samples=9, generator=0))
    assert [len(b[0]) for b in loader] == [4, 4, 1]


def test_sampler_errors_match_torch():
    cases = [
        (lambda m: m.RandomSampler([1, 2], replacement=1), TypeError, "replacement should be a boolean value"),
        (lambda m: m.RandomSampler([1, 2], num_samples=0), ValueError, "num_samples should be a positive integer"),
        (lambda m: m.BatchSampler([1], 0, False), ValueError, "batch_size should be a positive integer value"),
        (lambda m: m.BatchSampler([1], 2, 1), ValueError, "drop_last should be a boolean value"),
        (lambda m: m.WeightedRandomSampler([[1.0]], 2), ValueError, "weights should be a 1d sequence"),
    ]
    for make, exc, text in cases:
        with pytest.raises(exc, match=text):
            make(nud)
        with pytest.raises(exc, match=text):
            make(tud)


Point = collections.namedtuple("Point", "x y")


@pytest.mark.parametrize("batch", [
    [1, 2, 3],
    [1.5, 2.5],
    [True, False],
    ["a", "b"],
    [np.array([1, 2]), np.array([3, 4])],
    [np.float32(1.0), np.float32(2.0)],
    [{"a": 1, "b": [1.0, 2.0]}, {"a": 2, "b": [3.0, 4.0]}],
    [(1, "x"), (2, "y")],
    [[1, 2], [3, 4]],
    [Point(1, 2.0), Point(3, 4.0)],
])
def test_default_collate_matches_torch(batch):
    _same(nud.default_collate(batch), tud.default_collate(batch))


def test_default_collate_tensors_and_errors():
    got = nud.default_collate([(ng.ones(2), ng.tensor(1)), (ng.zeros(2), ng.tensor(0))])
    want = tud.default_collate([(torch.ones(2), torch.tensor(1)), (torch.zeros(2), torch.tensor(0))])
    _same(got, want)
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        nud.default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        nud.default_collate([object()])
    _same(nud.default_convert({"x": np.arange(2)}), tud.default_convert({"x": np.arange(2)}))


def test_random_split_lengths_fractions_and_errors():
    ds = list(range(10))
    parts = nud.random_split(ds, [0.34, 0.33, 0.33], generator=0)
    assert [len(p) for p in parts] == [len(p) for p in tud.random_split(ds, [0.34, 0.33, 0.33])]
    assert sorted(i for p in parts for i in p.indices) == ds
    parts = nud.random_split(ds, [3, 7], generator=np.random.default_rng(1))
    assert [len(p) for p in parts] == [3, 7] and sorted(parts[0].indices + parts[1].indices) == ds
    assert parts[1][0] == ds[parts[1].indices[0]]
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        nud.random_split(ds, [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 2 is not between 0 and 1"):
        nud.random_split(ds, [0.5, 0.7, -0.2])


def test_concat_stack_and_subset_datasets():
    a, b = nud.TensorDataset(ng.arange(3)), nud.TensorDataset(ng.arange(10, 12))
    cat = a + b
    assert isinstance(cat, nud.ConcatDataset) and len(cat) == 5 and cat.cumulative_sizes == [3, 5]
    assert [cat[i][0].item() for i in range(5)] == [0, 1, 2, 10, 11] and cat[-1][0].item() == 11
    assert [y[0].tolist() for y in nud.DataLoader(cat, batch_size=2)] == [[0, 1], [2, 10], [11]]
    st = nud.StackDataset(x=[1, 2], y=["a", "b"])
    assert st[1] == {"x": 2, "y": "b"} and len(st) == 2
    with pytest.raises(NotImplementedError, match="Subclasses of Dataset should implement __getitem__"):
        nud.Dataset()[0]


class _Stream(nud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(np.arange(self.n, dtype=np.float32).reshape(self.n, 1))


class _TorchStream(tud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(np.arange(self.n, dtype=np.float32).reshape(self.n, 1))


def test_iterable_dataset_batches_like_torch():
    for kw in (dict(batch_size=2), dict(batch_size=2, drop_last=True), dict(batch_size=None)):
        got, want = list(nud.DataLoader(_Stream(5), **kw)), list(tud.DataLoader(_TorchStream(5), **kw))
        assert len(got) == len(want)
        for a, b in zip(got, want):
            _same(a, b)
    chained = _Stream(2) + _Stream(3)
    assert [float(v[0]) for v in chained] == [0.0, 1.0, 0.0, 1.0, 2.0]
    with pytest.raises(TypeError):
        len(nud.DataLoader(_Stream(3), batch_size=2))  # a stream without __len__, as in torch
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        nud.DataLoader(_Stream(3), shuffle=True)


def test_loader_arguments_and_workers():
    ours, _ = _pair()
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        nud.DataLoader(ours, sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        nud.DataLoader(ours, batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        nud.DataLoader(ours, num_workers=-1)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        nud.DataLoader(ours, batch_size=0)
    with pytest.warns(UserWarning, match="loads batches in the main process"):
        loader = nud.DataLoader(ours, batch_size=4, num_workers=2, pin_memory=True, persistent_workers=True)
    assert [y.tolist() for _, y in loader] == [[0, 1, 2, 3], [4, 5, 6]]  # loaded in this process
    assert nud.get_worker_info() is None
    custom = nud.DataLoader(ours, batch_size=3, collate_fn=lambda samples: len(samples))
    assert list(custom) == [3, 3, 1]


def test_a_numgrad_generator_seeds_random_split_samplers_and_loaders():
    """PyTorch's idiom ``random_split(ds, [7, 3], generator=torch.Generator().manual_seed(42))``."""
    ds = ng.utils.data.TensorDataset(ng.arange(10.0))

    def split():
        return [list(part.indices) for part in
                ng.utils.data.random_split(ds, [7, 3], generator=ng.Generator().manual_seed(42))]

    def shuffled():
        loader = ng.utils.data.DataLoader(ds, batch_size=10, shuffle=True, generator=ng.Generator().manual_seed(7))
        return next(iter(loader))[0].tolist()

    assert split() == split() and sorted(sum(split(), [])) == list(range(10))
    assert shuffled() == shuffled() and sorted(shuffled()) == list(range(10))
    sampler = ng.utils.data.RandomSampler(ds, generator=ng.Generator().manual_seed(3))
    assert sorted(sampler) == list(range(10))
    with pytest.raises(TypeError, match="generator must be a numgrad.Generator, a numpy.random.Generator or an int"):
        ng.utils.data.random_split(ds, [7, 3], generator="seed")
