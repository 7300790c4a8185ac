"""Atomic writes and self-contained ONNX files."""

import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from toolkit import io
from toolkit.errors import InputError, UsageError


def _model(weights: np.ndarray) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(weights.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(weights.shape))],
        [numpy_helper.from_array(weights, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "model.onnx"
    with pytest.raises(RuntimeError), io.atomic_output(target) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("exporter crashed")
    assert list(tmp_path.iterdir()) == []


def test_successful_write_replaces_the_target(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with io.atomic_output(target) as temporary:
        temporary.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_written_files_get_the_usual_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        with io.atomic_output(tmp_path / "model.onnx") as temporary:
            temporary.write_text("x")
        with io.atomic_output(tmp_path / "saved_model", directory=True) as temporary:
            (temporary / "saved_model.pb").write_text("x")
    finally:
        os.umask(mask)
    assert (tmp_path / "model.onnx").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "saved_model").stat().st_mode & 0o777 == 0o755


def test_large_model_keeps_its_weights_beside_it_and_loads_after_a_move(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "EXTERNAL_WEIGHTS_THRESHOLD", 1000)  # stands in for 256 MiB
    weights = np.arange(4096, dtype=np.float32).reshape(64, 64)
    written = io.save_onnx(_model(weights), tmp_path / "big" / "model.onnx")
    assert sorted(p.name for p in written.parent.iterdir()) == ["model.onnx", "model.onnx.data"]
    moved = tmp_path / "elsewhere"
    shutil.copytree(written.parent, moved)
    reloaded = io.load_onnx(moved / "model.onnx")
    np.testing.assert_array_equal(numpy_helper.to_array(reloaded.graph.initializer[0]), weights)


def test_corrupt_and_missing_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        io.load_onnx(tmp_path / "absent.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff\x00not a protobuf" * 10)
    with pytest.raises(InputError, match="not a readable ONNX model"):
        io.load_onnx(garbage)


# --------------------------------------------------------------------------- the write policy


def test_an_existing_directory_is_never_replaced_by_a_file(tmp_path):
    kept = tmp_path / "d"
    kept.mkdir()
    (kept / "important.txt").write_text("keep")
    with pytest.raises(InputError, match="is a directory"), io.atomic_output(kept) as temporary:
        temporary.write_text("model")
    assert (kept / "important.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_a_directory_output_replaces_only_what_toolkit_wrote(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(InputError, match="toolkit did not write"):
        with io.atomic_output(foreign, directory=True) as temporary:
            (temporary / "saved_model.pb").write_text("x")
    assert (foreign / "notes.txt").read_text() == "keep"

    ours = tmp_path / "saved_model"
    for generation in ("first", "second"):
        with io.atomic_output(ours, directory=True) as temporary:
            (temporary / "saved_model.pb").write_text(generation)
    assert (ours / "saved_model.pb").read_text() == "second"
    assert (ours / io.OUTPUT_MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mine",
        "saved_model",
    ]  # nothing moved aside is left


def test_force_replaces_a_foreign_saved_model_but_never_another_directory(tmp_path):
    saved_model = tmp_path / "exported_elsewhere"
    saved_model.mkdir()
    (saved_model / "saved_model.pb").write_text("theirs")
    with pytest.raises(InputError, match="pass --force"):
        io.check_writable(saved_model, directory=True)
    with io.replacing_foreign_directories(True), io.atomic_output(saved_model, directory=True) as temporary:
        (temporary / "saved_model.pb").write_text("ours")
    assert (saved_model / "saved_model.pb").read_text() == "ours"
    plain = tmp_path / "plain"
    plain.mkdir()
    with io.replacing_foreign_directories(True), pytest.raises(InputError, match="toolkit did not write"):
        io.check_writable(plain, directory=True)


@pytest.mark.parametrize(
    "target, name, fragment",
    [
        ("onnx", "model.pt2", "writes .onnx files"),
        ("torch", "model.onnx", "writes .pt2 or .py files"),
        ("tensorflow", "model.onnx", "SavedModel directory"),
        ("tflite", "model.onnx", "writes .tflite files"),
    ],
)
def test_the_output_suffix_must_fit_the_target(tmp_path, target, name, fragment):
    with pytest.raises(UsageError, match=fragment):
        io.check_output(tmp_path / name, target)


def test_an_output_is_never_an_input(tmp_path):
    model = tmp_path / "a.onnx"
    model.write_text("model")
    with pytest.raises(UsageError, match="that is the input"):
        io.check_output(tmp_path / "." / "a.onnx", "onnx", inputs=[model])
    saved_model = tmp_path / "sm"
    saved_model.mkdir()
    with pytest.raises(UsageError, match="that is the input"):  # replacing a directory holding the input
        io.check_output(tmp_path, "tensorflow", inputs=[model])
    (tmp_path / "link.onnx").symlink_to(model)
    with pytest.raises(UsageError, match="that is the input"):
        io.check_output(tmp_path / "link.onnx", "onnx", inputs=[model])
    with pytest.raises(UsageError, match="that is the input"):  # the .py writer's weights beside it
        io.check_output(tmp_path / "net.py", "torch", inputs=[tmp_path / "net.safetensors"])


def test_unwritable_places_are_one_line_input_errors(tmp_path):
    (tmp_path / "a_file").write_text("keep")
    with pytest.raises(InputError, match="is a file, not a directory"):
        io.check_writable(tmp_path / "a_file" / "x.onnx")
    with pytest.raises(InputError, match="cannot write in /proc"):
        io.check_writable("/proc/x.onnx")
    with pytest.raises(InputError, match="is a directory"):
        io.check_writable(".")
    with pytest.raises(InputError):
        with io.atomic_output("/proc/x.onnx") as temporary:
            temporary.write_text("x")


def test_parents_made_for_a_failed_write_are_removed(tmp_path):
    target = tmp_path / "new" / "deeper" / "model.onnx"
    with pytest.raises(RuntimeError), io.atomic_output(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("exporter crashed")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_rename_leaves_nothing_behind(tmp_path):
    """The probe's `--to tensorflow -o b.onnx` case: the rename onto a file fails inside the guarded block."""
    target = tmp_path / "out"
    with pytest.raises(InputError, match="appeared|file is in the way"):
        with io.atomic_output(target, directory=True) as temporary:
            (temporary / "saved_model.pb").write_text("x")
            target.write_text("a file appeared while the work ran")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert target.read_text().startswith("a file appeared")


def test_sigint_during_a_write_is_deferred_then_cleaned_up(tmp_path):
    import signal

    target = tmp_path / "model.pt2"
    # Python's own handler, also when the test runs as a background job (which starts with SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupt_a_write(target)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert list(tmp_path.iterdir()) == []


def _interrupt_a_write(target):
    import os
    import signal

    with pytest.raises(KeyboardInterrupt), io.atomic_output(target) as temporary:
        os.kill(os.getpid(), signal.SIGINT)  # arrives while C++ would be writing: held, not raised here
        temporary.write_text("the write completes")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
