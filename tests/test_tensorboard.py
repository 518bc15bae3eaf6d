"""numgrad.utils.tensorboard against torch.utils.tensorboard: the same calls on numgrad and torch values write the
same events (tags, steps, values, histogram buckets, PNG bytes, text, hparams), read back with TensorBoard's
EventAccumulator; plus what torch decides about log_dir names, purge_step, close and errors."""
from __future__ import annotations

import doctest
import importlib
import importlib.util
import os
import socket
import sys
import tempfile

import numpy as np
import pytest

pytest.importorskip("tensorboard")
torch = pytest.importorskip("torch")
import torch.utils.tensorboard as torch_tb  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader  # noqa: E402
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData  # noqa: E402

import numgrad as ng  # noqa: E402
import numgrad.utils.tensorboard as ng_tb  # noqa: E402

# keep every event (EventAccumulator samples down to a reservoir by default)
KEEP_ALL = {"scalars": 0, "histograms": 0, "images": 0, "tensors": 0, "audio": 0, "compressedHistograms": 0}

RNG = np.random.default_rng(0)
WEIGHTS = RNG.standard_normal((64, 32)).astype(np.float32)
IMAGE_CHW = RNG.random((3, 10, 12)).astype(np.float32)
IMAGE_HWC_U8 = RNG.integers(0, 256, (9, 7, 3)).astype(np.uint8)
IMAGE_HW = RNG.random((6, 5))
BATCH_NCHW = RNG.random((10, 1, 4, 6)).astype(np.float32)
BATCH_NHWC = RNG.random((3, 5, 5, 3))


def _accumulator(path) -> EventAccumulator:
    accumulator = EventAccumulator(str(path), size_guidance=KEEP_ALL)
    accumulator.Reload()
    return accumulator


def _both(tmp_path, log):
    """Run ``log(writer, to_tensor)`` with numgrad's writer on numgrad tensors and torch's on torch tensors."""
    ng_dir, torch_dir = tmp_path / "numgrad", tmp_path / "torch"
    with ng_tb.SummaryWriter(ng_dir) as writer:
        log(writer, lambda a: ng.tensor(np.asarray(a)))
    with torch_tb.SummaryWriter(torch_dir) as writer:
        log(writer, lambda a: torch.tensor(np.asarray(a)))
    return ng_dir, torch_dir


def _events(directory):
    """Every event of the one event file in ``directory``, wall times cleared (they are the only difference)."""
    (name,) = [f for f in os.listdir(directory) if f.startswith("events.out.tfevents")]
    events = list(EventFileLoader(os.path.join(directory, name)).Load())
    for event in events:
        event.ClearField("wall_time")
    return events


def test_scalars_match_torch(tmp_path):
    def log(writer, to_tensor):
        for step in range(5):
            writer.add_scalar("loss", 1.0 / (step + 1), step)
            writer.add_scalar("loss_tensor", to_tensor(np.float32(0.1 * step)), step)
            writer.add_scalar("numpy", np.float64(np.pi * step), global_step=np.int64(step))
            writer.add_scalar("new", to_tensor([2.5 * step]), step, new_style=True)
            writer.add_scalar("double", np.pi * step, step, new_style=True, double_precision=True)
        writer.add_scalars("run/curves", {"train": 0.5, "test": to_tensor(0.75)}, 3)

    ng_dir, torch_dir = _both(tmp_path, log)
    ours, theirs = _accumulator(ng_dir), _accumulator(torch_dir)
    assert ours.Tags()["scalars"] == theirs.Tags()["scalars"] == ["loss", "loss_tensor", "numpy"]
    for tag in ("loss", "loss_tensor", "numpy"):
        assert [(e.step, e.value) for e in ours.Scalars(tag)] == [(e.step, e.value) for e in theirs.Scalars(tag)]
    assert [e.value for e in ours.Scalars("numpy")] == pytest.approx([np.float32(np.pi * s) for s in range(5)])
    for tag in ("new", "double"):
        assert [(e.step, e.tensor_proto) for e in ours.Tensors(tag)] == \
            [(e.step, e.tensor_proto) for e in theirs.Tensors(tag)]
        assert ours.SummaryMetadata(tag) == theirs.SummaryMetadata(tag)
    assert ours.Tensors("double")[3].tensor_proto.double_val == [np.pi * 3]
    # add_scalars: one sub-run per curve, named as torch names it
    runs = sorted(d for d in os.listdir(ng_dir) if os.path.isdir(ng_dir / d))
    assert runs == sorted(d for d in os.listdir(torch_dir) if os.path.isdir(torch_dir / d)) == \
        ["run_curves_test", "run_curves_train"]
    for run in runs:
        ours, theirs = _accumulator(ng_dir / run), _accumulator(torch_dir / run)
        assert [(e.step, e.value) for e in ours.Scalars("run/curves")] == \
            [(e.step, e.value) for e in theirs.Scalars("run/curves")]


def test_histograms_match_torch(tmp_path):
    def log(writer, to_tensor):
        writer.add_histogram("tensorflow", to_tensor(WEIGHTS), 0)
        writer.add_histogram("numpy_input", WEIGHTS.astype(np.float64) * 3, 1)
        for bins in ("auto", "fd", "sturges", 7, [-1.0, 0.0, 0.5, 3.0]):
            writer.add_histogram(f"bins_{bins}", to_tensor(WEIGHTS), 2, bins=bins)
        writer.add_histogram("max_bins", to_tensor(WEIGHTS), 3, bins=50, max_bins=8)
        writer.add_histogram("int", to_tensor(np.arange(20)), 4, bins="auto")
        writer.add_histogram_raw("raw", min=0.0, max=2.0, num=3, sum=3.0, sum_squares=5.0,
                                 bucket_limits=[1.0, 2.0], bucket_counts=[1, 2], global_step=5)

    ng_dir, torch_dir = _both(tmp_path, log)
    ours, theirs = _accumulator(ng_dir), _accumulator(torch_dir)
    assert ours.Tags()["histograms"] == theirs.Tags()["histograms"]
    assert len(ours.Tags()["histograms"]) == 10
    for tag in ours.Tags()["histograms"]:
        (mine,), (reference,) = ours.Histograms(tag), theirs.Histograms(tag)
        assert mine.step == reference.step
        assert mine.histogram_value == reference.histogram_value, tag
    default = ours.Histograms("tensorflow")[0].histogram_value
    assert default.num == WEIGHTS.size and sum(default.bucket) == WEIGHTS.size


def test_images_match_torch(tmp_path):
    def log(writer, to_tensor):
        writer.add_image("chw", to_tensor(IMAGE_CHW), 0)
        writer.add_image("hwc_uint8", to_tensor(IMAGE_HWC_U8), 1, dataformats="HWC")
        writer.add_image("hw_numpy", IMAGE_HW, 2, dataformats="HW")
        writer.add_image("wh", to_tensor(IMAGE_HW), 2, dataformats="WH")
        writer.add_image("clipped", to_tensor(IMAGE_CHW * 3 - 1), 3)
        writer.add_images("batch", to_tensor(BATCH_NCHW), 4)
        writer.add_images("batch_nhwc", BATCH_NHWC, 5, dataformats="NHWC")
        writer.add_image_with_boxes("boxes", to_tensor(IMAGE_CHW), to_tensor([[1, 1, 8, 6]]), 6, labels=["cat"])

    ng_dir, torch_dir = _both(tmp_path, log)
    ours, theirs = _accumulator(ng_dir), _accumulator(torch_dir)
    assert ours.Tags()["images"] == theirs.Tags()["images"]
    assert len(ours.Tags()["images"]) == 8
    for tag in ours.Tags()["images"]:
        (mine,), (reference,) = ours.Images(tag), theirs.Images(tag)
        assert (mine.step, mine.width, mine.height) == (reference.step, reference.width, reference.height), tag
        assert mine.encoded_image_string == reference.encoded_image_string, tag
    assert (ours.Images("chw")[0].height, ours.Images("chw")[0].width) == (10, 12)
    assert (ours.Images("batch")[0].height, ours.Images("batch")[0].width) == (8, 48)  # 8 a row, 2 rows


def test_text_and_hparams_match_torch(tmp_path):
    def log(writer, to_tensor):
        writer.add_text("notes", "lr **0.1**, ünïcode", 0)
        writer.add_text("notes", "second", 7)
        writer.add_hparams({"lr": 0.1, "layers": 3, "optimizer": "sgd", "nesterov": True, "skipped": None,
                            "momentum": to_tensor([0.9])},
                           {"hparam/accuracy": 0.8, "hparam/loss": to_tensor(0.25)},
                           hparam_domain_discrete={"optimizer": ["sgd", "adam"]}, run_name="trial0")

    ng_dir, torch_dir = _both(tmp_path, log)
    ours, theirs = _accumulator(ng_dir), _accumulator(torch_dir)
    assert [(e.step, e.tensor_proto) for e in ours.Tensors("notes/text_summary")] == \
        [(e.step, e.tensor_proto) for e in theirs.Tensors("notes/text_summary")]
    assert ours.Tensors("notes/text_summary")[0].tensor_proto.string_val == ["lr **0.1**, ünïcode".encode()]
    assert ours.SummaryMetadata("notes/text_summary") == theirs.SummaryMetadata("notes/text_summary")
    ours, theirs = _accumulator(ng_dir / "trial0"), _accumulator(torch_dir / "trial0")
    mine, reference = ours.PluginTagToContent("hparams"), theirs.PluginTagToContent("hparams")
    assert sorted(mine) == sorted(reference) == ["_hparams_/experiment", "_hparams_/session_end_info",
                                                 "_hparams_/session_start_info"]
    for tag in mine:
        assert HParamsPluginData.FromString(mine[tag]) == HParamsPluginData.FromString(reference[tag]), tag
    start = HParamsPluginData.FromString(mine["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["optimizer"].string_value == "sgd"
    assert start.hparams["momentum"].number_value == pytest.approx(0.9)
    assert "skipped" not in start.hparams
    assert ours.Tags()["scalars"] == theirs.Tags()["scalars"] == ["hparam/accuracy", "hparam/loss"]
    assert ours.Scalars("hparam/loss")[0].value == 0.25


def test_other_summaries_are_torchs_events(tmp_path):
    """Audio, PR curves, custom scalars, meshes, tensors, embeddings and figures: event for event, torch's protobufs."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = RNG.integers(0, 2, 40)
    predictions = RNG.random(40)
    vertices = RNG.standard_normal((1, 6, 3)).astype(np.float32)

    open_before = set(plt.get_fignums())  # (figures other tests left open are not this one's to close)
    made: set = set()

    def log(writer, to_tensor):
        writer.add_audio("tone", to_tensor(np.sin(np.linspace(0, 50, 800))[None]), 0, sample_rate=8000)
        writer.add_pr_curve("pr", to_tensor(labels), to_tensor(predictions), 1, num_thresholds=20)
        writer.add_pr_curve_raw("pr_raw", [2, 1], [2, 0], [0, 2], [0, 1], [0.5, 1.0], [1.0, 0.5], 2,
                                num_thresholds=2)
        writer.add_custom_scalars({"loss": {"both": ["Multiline", ["loss/train", "loss/test"]],
                                            "band": ["Margin", ["acc", "acc_lo", "acc_hi"]]}})
        writer.add_custom_scalars_multilinechart(["a", "b"], category="c", title="t")
        writer.add_custom_scalars_marginchart(["v", "lo", "hi"])
        writer.add_mesh("cloud", to_tensor(vertices), colors=to_tensor(np.full((1, 6, 3), 200)),
                        config_dict={"camera": {"fov": 75}}, global_step=3)
        for values in (np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(4), np.array([True, False]),
                       np.arange(3, dtype=np.uint8), np.arange(3, dtype=np.float64), np.ones(2, np.float16)):
            writer.add_tensor(f"tensor_{values.dtype}", to_tensor(values), 4)
        figure = plt.figure(figsize=(1, 1), dpi=20)
        plt.plot([0, 1], [1, 0])
        writer.add_figure("figure", figure, 5)
        figures = [plt.figure(figsize=(1, 1), dpi=10) for _ in range(2)]
        made.update([figure.number] + [f.number for f in figures])
        writer.add_figure("figures", figures, 6)
        writer.add_embedding(to_tensor(WEIGHTS[:6, :3]), metadata=list("abcdef"),
                             label_img=to_tensor(np.ones((6, 3, 4, 4))), global_step=7, tag="em/b")
        writer.add_embedding(WEIGHTS[:2, :2], metadata=[["x", 1], ["y", 2]], metadata_header=["name", "n"])

    ng_dir, torch_dir = _both(tmp_path, log)
    ours, theirs = _events(ng_dir), _events(torch_dir)
    assert len(ours) == len(theirs) == 16  # file_version + 15 summaries
    for mine, reference in zip(ours, theirs):
        assert mine == reference
    assert not made & set(plt.get_fignums()) and set(plt.get_fignums()) <= open_before  # add_figure closes them
    embedding_files = sorted(os.path.relpath(os.path.join(d, f), ng_dir) for d, _, fs in os.walk(ng_dir) for f in fs
                             if not f.startswith("events"))
    assert embedding_files == sorted(os.path.relpath(os.path.join(d, f), torch_dir) for d, _, fs in os.walk(torch_dir)
                                     for f in fs if not f.startswith("events"))
    for name in embedding_files:
        assert (ng_dir / name).read_bytes() == (torch_dir / name).read_bytes(), name


def test_default_log_dir_purge_step_and_reopen(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    writer = ng_tb.SummaryWriter(comment="_lr0.1")
    logdir = writer.get_logdir()
    assert os.path.dirname(logdir) == "runs" and logdir.endswith("_" + socket.gethostname() + "_lr0.1")
    assert os.path.isdir(logdir)
    writer.close()
    writer.close()  # a second close is harmless

    # purge_step: torch's two marker events come first
    def log(writer, to_tensor):
        writer.add_scalar("x", 1.0, 10)

    for directory in (tmp_path / "numgrad_purge", tmp_path / "torch_purge"):
        module = ng_tb if "numgrad" in directory.name else torch_tb
        with module.SummaryWriter(directory, purge_step=5, filename_suffix=".v1") as w:
            log(w, None)
        assert os.listdir(directory)[0].endswith(".v1")
    assert _events(tmp_path / "numgrad_purge") == _events(tmp_path / "torch_purge")
    assert [e.step for e in _events(tmp_path / "numgrad_purge")] == [0, 5, 5, 10]

    # after close, the next add_* opens a new event file in the same directory
    writer = ng_tb.SummaryWriter(tmp_path / "again", flush_secs=1)
    writer.add_scalar("y", 1.0, 0)
    writer.close()
    writer.add_scalar("y", 2.0, 1)
    writer.flush()
    writer.close()
    assert len(os.listdir(tmp_path / "again")) == 2
    assert [(e.step, e.value) for e in _accumulator(tmp_path / "again").Scalars("y")] == [(0, 1.0), (1, 2.0)]
    file_writer = ng_tb.FileWriter(tmp_path / "reopened")
    file_writer.close()
    file_writer.reopen()
    file_writer.add_summary(ng_tb.writer.scalar("z", 3.0), 2)
    file_writer.close()
    assert [e.value for e in _accumulator(tmp_path / "reopened").Scalars("z")] == [3.0]


def test_add_graph_logs_the_onnx_graph(tmp_path):
    pytest.importorskip("onnx")
    model = ng.nn.Sequential(ng.nn.Linear(4, 8), ng.nn.ReLU(), ng.nn.Linear(8, 2))
    with ng_tb.SummaryWriter(tmp_path) as writer:
        writer.add_graph(model, ng.randn(3, 4))
        with pytest.raises(ValueError, match="needs input_to_model"):
            writer.add_graph(model)
        with pytest.raises(TypeError, match="expects a numgrad.nn.Module"):
            writer.add_graph(lambda x: x, ng.randn(3, 4))
    graph = _accumulator(tmp_path).Graph()
    ops = [node.op for node in graph.node]
    assert ops.count("Variable") == 2 and "Relu" in ops and len(ops) >= 5


def test_values_and_errors(tmp_path):
    with ng_tb.SummaryWriter(tmp_path) as writer:
        writer.add_scalar("bf16", ng.tensor(0.5, dtype=ng.bfloat16), 0)  # logged as float16, as torch does
        with pytest.raises(NotImplementedError, match="numpy array or numgrad tensor are expected"):
            writer.add_scalar("list", [1.0], 0)
        with pytest.raises(AssertionError, match="Tensor should contain one element"):
            writer.add_scalar("vector", ng.ones(3), 0)
        with pytest.raises(AssertionError, match="size of input tensor and input format are different"):
            writer.add_image("bad", np.zeros((3, 4, 4)), dataformats="HW")
        with pytest.raises(ValueError, match="The input has no element"):
            writer.add_histogram("empty", np.zeros(0), 0)
        with pytest.raises(ValueError, match=r"len\(bucket_limits\) != len\(bucket_counts\)"):
            writer.add_histogram_raw("raw", 0, 1, 1, 1, 1, [1.0], [1, 2])
        with pytest.raises(TypeError, match="hparam_dict and metric_dict should be dictionary"):
            writer.add_hparams([("lr", 0.1)], {})
        with pytest.raises(ValueError, match="value should be one of int, float, str, bool"):
            writer.add_hparams({"lr": [0.1]}, {})
        with pytest.raises(AssertionError, match="Expected 3 tags"):
            writer.add_custom_scalars_marginchart(["a", "b"])
        if importlib.util.find_spec("moviepy") is None:  # torch prints and logs nothing; numgrad says what to install
            with pytest.raises(ImportError, match="add_video needs the moviepy package"):
                writer.add_video("clip", np.zeros((1, 2, 3, 4, 4)), 0)
    assert _accumulator(tmp_path).Scalars("bf16")[0].value == 0.5


def test_missing_tensorboard_raises_torchs_import_error(monkeypatch):
    for name in [m for m in sys.modules if m.startswith("numgrad.utils.tensorboard")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # what `import tensorboard` sees when not installed
    with pytest.raises(ImportError, match="TensorBoard logging requires TensorBoard version 1.15 or above"):
        importlib.import_module("numgrad.utils.tensorboard")
    monkeypatch.undo()
    assert importlib.import_module("numgrad.utils.tensorboard").SummaryWriter is ng_tb.SummaryWriter


@pytest.mark.parametrize("module", ["numgrad.utils.tensorboard", "numgrad.utils.tensorboard.writer",
                                    "numgrad.utils.tensorboard.summary",
                                    "numgrad.utils.tensorboard._utils", "numgrad.utils.tensorboard._convert_np"])
def test_docstring_examples(module, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib").use("Agg")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the examples' mkdtemp() directories land here
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
