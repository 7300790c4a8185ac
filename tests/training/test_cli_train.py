"""verify-parity --train through the real CLI: the table, JSON and HTML with the loss curves;
a reference without float parameters is an input error (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest


def _run(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.mark.slow
def test_verify_parity_train_on_a_keras_batch_norm_cnn(tmp_path):
    factory = tmp_path / "bn_cnn.py"
    factory.write_text(
        textwrap.dedent(
            """
            import numpy as np

            def build():
                import keras
                keras.utils.set_random_seed(5)
                image = keras.Input((8, 8, 3), name="image")
                x = keras.layers.Conv2D(4, 3, activation="relu")(image)
                x = keras.layers.BatchNormalization()(x)
                x = keras.layers.GlobalAveragePooling2D()(x)
                return keras.Model(image, keras.layers.Dense(3)(x))

            def example_inputs():
                return (np.random.default_rng(0).standard_normal((6, 8, 8, 3)).astype(np.float32),)
            """
        )
    )
    onnx_path = tmp_path / "bn_cnn.onnx"
    converted = _run("convert", f"{factory}:build", "-o", str(onnx_path), "--trainable", cwd=tmp_path)
    assert converted.returncode == 0, converted.stderr
    result = _run(
        "verify-parity",
        f"{factory}:build",
        str(onnx_path),
        "--train",
        "--json",
        str(tmp_path / "r.json"),
        "--html",
        str(tmp_path / "r.html"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS: trains like the reference" in result.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    phases = {entry["phase"] for entry in report["parameters"]}
    assert phases == {"gradient", "sgd", "adam", "running statistics"}
    assert len(report["fine_tune"]["reference_losses"]) == 20
    assert report["fine_tune"]["largest_relative_gap"] < 1e-3
    assert "data:image/png;base64," in (tmp_path / "r.html").read_text()


def test_verify_parity_train_without_float_parameters_exits_2(tmp_path):
    factory = tmp_path / "relu.py"
    factory.write_text(
        textwrap.dedent(
            """
            import numpy as np

            def build():
                import torch
                return torch.nn.ReLU()

            def example_inputs():
                return (np.ones((2, 3), np.float32),)
            """
        )
    )
    onnx_path = tmp_path / "relu.onnx"
    assert _run("convert", f"{factory}:build", "-o", str(onnx_path), cwd=tmp_path).returncode == 0
    result = _run("verify-parity", f"{factory}:build", str(onnx_path), "--train", cwd=tmp_path)
    assert result.returncode == 2
    assert "no float parameters" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
