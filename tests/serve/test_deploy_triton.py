"""`toolkit deploy --target triton`: the config Triton would read, checked here without Triton.

tests/serve/test_triton_server.py hands the same repositories to a real tritonserver.
"""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import onnx
import pytest
import served_models as models
from click.testing import CliRunner
from conftest import REPOSITORY_ROOT
from google.protobuf import text_format
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2 as pb

from toolkit.cli import cli
from toolkit.deploy.triton import MARKER, TritonOptions, write_repository
from toolkit.errors import UsageError


def deploy(*arguments: str):
    """The `toolkit` command group in-process (its error handling and exit codes included)."""
    result = CliRunner().invoke(cli, ["deploy", *arguments])
    return SimpleNamespace(returncode=result.exit_code, stderr=result.stderr, stdout=result.stdout)


def test_the_cli_in_a_real_process(model_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", "deploy", str(model_dir / "cnn.onnx"), "--target", "triton",
         "-o", str(tmp_path / "repo"), "--max-batch-size", "4", "--preferred-batch-sizes", "8"],
        cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "toolkit: error: cnn: preferred batch sizes [8] must be from 1 to max_batch_size 4"
    ]


def read_config(path) -> pb.ModelConfig:
    config = pb.ModelConfig()
    text_format.Parse(path.read_text(), config)
    return config


def build_static(path):
    """A model whose batch axis is fixed at 2."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "static",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_several_models_in_one_repository(model_dir, tmp_path):
    names = ("cnn", "transformer", "mixed", "strings")
    result = deploy(
        *(str(model_dir / f"{name}.onnx") for name in names),
        "--target",
        "triton",
        "-o",
        str(tmp_path / "repo"),
    )
    assert result.returncode == 0, result.stderr
    repo = tmp_path / "repo"
    assert sorted(path.name for path in repo.iterdir() if path.is_dir()) == sorted(names)
    for name in names:
        assert (repo / name / "1" / "model.onnx").read_bytes() == (model_dir / f"{name}.onnx").read_bytes()
        config = read_config(repo / name / "config.pbtxt")
        assert config.name == name and config.backend == "onnxruntime"
        assert config.max_batch_size == 8
        assert list(config.dynamic_batching.preferred_batch_size) == [2, 4, 8]
        assert config.dynamic_batching.max_queue_delay_microseconds == 100
        assert [(group.kind, group.count) for group in config.instance_group] == [
            (pb.ModelInstanceGroup.KIND_CPU, 1)
        ]
    cnn = read_config(repo / "cnn" / "config.pbtxt")
    assert [(t.name, pb.DataType.Name(t.data_type), list(t.dims)) for t in cnn.input] == [
        ("input", "TYPE_FP32", [1, 28, 28])
    ]
    assert [(t.name, list(t.dims)) for t in cnn.output] == [("logits", [10])]
    transformer = read_config(repo / "transformer" / "config.pbtxt")
    assert [(pb.DataType.Name(t.data_type), list(t.dims)) for t in transformer.input] == [
        ("TYPE_INT64", [-1])
    ]
    mixed = read_config(repo / "mixed" / "config.pbtxt")
    assert [pb.DataType.Name(t.data_type) for t in mixed.input] == ["TYPE_FP32", "TYPE_BOOL"]
    assert [pb.DataType.Name(t.data_type) for t in mixed.output] == ["TYPE_FP32", "TYPE_INT64"]
    # A 1-D [batch] tensor has no dims left: Triton's convention is dims [1] reshaped to [].
    strings = read_config(repo / "strings" / "config.pbtxt")
    assert [(pb.DataType.Name(t.data_type), list(t.dims), t.HasField("reshape")) for t in strings.input] == [
        ("TYPE_STRING", [1], True)
    ]
    assert (repo / MARKER).is_file()


def test_gpu_accelerator_and_threads(model_dir, tmp_path):
    result = deploy(
        str(model_dir / "cnn.onnx"), "--target", "triton", "-o", str(tmp_path / "repo"),
        "--gpus", "0,1", "--instances", "2", "--accelerator", "tensorrt", "--precision", "fp16",
        "--intra-op-threads", "4", "--inter-op-threads", "1", "--max-batch-size", "32",
        "--preferred-batch-sizes", "8,32", "--max-queue-delay-us", "500",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = read_config(tmp_path / "repo" / "cnn" / "config.pbtxt")
    (group,) = config.instance_group
    assert (group.kind, group.count, list(group.gpus)) == (pb.ModelInstanceGroup.KIND_GPU, 2, [0, 1])
    (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt" and dict(accelerator.parameters) == {"precision_mode": "FP16"}
    assert config.parameters["intra_op_thread_count"].string_value == "4"
    assert config.parameters["inter_op_thread_count"].string_value == "1"
    assert config.max_batch_size == 32
    assert list(config.dynamic_batching.preferred_batch_size) == [8, 32]
    assert config.dynamic_batching.max_queue_delay_microseconds == 500


def test_static_batch(tmp_path):
    path = build_static(tmp_path / "static.onnx")
    result = deploy(str(path), "--target", "triton", "-o", str(tmp_path / "repo"))
    assert result.returncode == 0, result.stderr
    config = read_config(tmp_path / "repo" / "static" / "config.pbtxt")
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
    assert list(config.input[0].dims) == [2, 3]
    result = deploy(str(path), "--target", "triton", "-o", str(tmp_path / "batched"), "--max-batch-size", "4")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert (
        "x, y have a static one; re-export with a dynamic batch (toolkit convert ... --dynamic NAME:0)"
        in line
    )
    assert not (tmp_path / "batched").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--max-batch-size", "4", "--preferred-batch-sizes", "2,8"],
            "preferred batch sizes [2, 8] must be from 1 to max_batch_size 4",
        ),
        (["--preferred-batch-sizes", "0"], "must be from 1 to max_batch_size 8"),
        (["--max-batch-size", "0", "--preferred-batch-sizes", "2"], "--preferred-batch-sizes needs batching"),
        (["--accelerator", "cuda"], "--accelerator cuda runs on a GPU; name the devices with --gpus"),
        (["--precision", "fp16"], "--precision fp16 applies to --accelerator tensorrt only"),
        (["--preferred-batch-sizes", "a,b"], "expected comma-separated integers"),
        (["--name", "a/b"], "model name 'a/b' must be letters, digits"),
        (["--name", "a", "--name", "b"], "2 --name value(s) for 1 model(s)"),
    ],
)
def test_bad_options_are_one_line_exit_2(model_dir, tmp_path, arguments, message):
    result = deploy(
        str(model_dir / "cnn.onnx"), "--target", "triton", "-o", str(tmp_path / "repo"), *arguments
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert message in line
    assert not (tmp_path / "repo").exists()


def test_existing_output_is_kept_unless_toolkit_wrote_it(model_dir, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "important.txt").write_text("keep")
    result = deploy(str(model_dir / "cnn.onnx"), "--target", "triton", "-o", str(mine), "--force")
    assert result.returncode == 2 and "already exists" in result.stderr
    assert (mine / "important.txt").read_text() == "keep"
    repo = tmp_path / "repo"
    write_repository([model_dir / "cnn.onnx"], repo, TritonOptions())
    with pytest.raises(UsageError, match="pass --force to replace it"):
        write_repository([model_dir / "mixed.onnx"], repo, TritonOptions())
    write_repository([model_dir / "mixed.onnx"], repo, TritonOptions(), force=True)
    assert sorted(path.name for path in repo.iterdir()) == [MARKER, "mixed"]


def test_same_stem_twice_needs_names(model_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    models.build_cnn(other / "cnn.onnx")
    paths = [str(model_dir / "cnn.onnx"), str(other / "cnn.onnx")]
    result = deploy(*paths, "--target", "triton", "-o", str(tmp_path / "repo"))
    assert result.returncode == 2 and "model name 'cnn' is already taken" in result.stderr
    result = deploy(*paths, "--target", "triton", "-o", str(tmp_path / "repo"), "--name", "a", "--name", "b")
    assert result.returncode == 0, result.stderr
    assert read_config(tmp_path / "repo" / "b" / "config.pbtxt").name == "b"


def test_python_backend_variant(model_dir, tmp_path):
    result = deploy(
        str(model_dir / "cnn.onnx"), "--target", "triton", "--backend", "python", "-o", str(tmp_path / "repo")
    )
    assert result.returncode == 0, result.stderr
    assert read_config(tmp_path / "repo" / "cnn" / "config.pbtxt").backend == "python"
    assert (
        (tmp_path / "repo" / "cnn" / "1" / "model.py")
        .read_text()
        .startswith('"""Triton python-backend model')
    )
    assert (tmp_path / "repo" / "cnn" / "1" / "model.onnx").is_file()
