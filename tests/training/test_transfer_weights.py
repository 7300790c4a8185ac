"""transfer-weights between hand-written twins (tests/training/twins.py), both ways, and a pair
that does not match (a different hidden size) refused with nothing written."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from toolkit.errors import InputError
from toolkit.sources import load_source
from toolkit.training.transfer import transfer_weights

TWINS = "tests.training.twins"


@pytest.mark.parametrize(
    ("source", "destination", "suffix"),
    [
        ("torch_cnn", "keras_cnn", ".weights.h5"),
        ("keras_cnn", "torch_cnn", ".pt"),
        ("keras_block", "torch_block", ".pt"),
        ("torch_block", "keras_block", ".weights.h5"),
        ("torch_bilstm", "keras_bilstm", ".weights.h5"),
        ("keras_bilstm", "torch_bilstm", ".pt"),
        ("torch_bigru", "keras_bigru", ".weights.h5"),
        ("keras_bigru", "torch_bigru", ".pt"),
    ],
)
def test_twins_get_the_weights_and_agree(tmp_path, source, destination, suffix):
    output = tmp_path / f"twin{suffix}"
    result = transfer_weights(f"{TWINS}:{source}", f"{TWINS}:{destination}", output)
    assert output.exists() and result.max_abs_difference < 1e-4
    # The written checkpoint drives a fresh twin to the source's outputs.
    fresh = load_source(f"{TWINS}:{destination}").model
    reference = load_source(f"{TWINS}:{source}")
    inputs = reference.example_inputs[0]
    if destination.startswith("torch"):
        import torch

        fresh.load_state_dict(torch.load(output, weights_only=True))
        image = np.transpose(inputs, (0, 3, 1, 2)) if inputs.ndim == 4 else inputs
        got = fresh(torch.from_numpy(np.ascontiguousarray(image))).detach().numpy()
        expected = reference.model(inputs).numpy()
    else:
        import torch

        fresh.load_weights(output)
        image = np.transpose(inputs, (0, 2, 3, 1)) if inputs.ndim == 4 else inputs
        got = fresh(image).numpy()
        expected = reference.model(torch.from_numpy(inputs)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_a_keras_gru_with_the_reset_gate_before_the_matmul_is_refused(tmp_path):
    output = tmp_path / "gru.pt"
    with pytest.raises(InputError, match="reset_after=False"):
        transfer_weights(f"{TWINS}:keras_bigru_reset_before", f"{TWINS}:torch_bigru", output)
    assert not output.exists()


def test_a_twin_with_another_hidden_size_is_refused_and_nothing_is_written(tmp_path):
    output = tmp_path / "wide.weights.h5"
    with pytest.raises(InputError, match="cannot match the twins' parameters") as caught:
        transfer_weights(f"{TWINS}:torch_cnn", f"{TWINS}:keras_cnn_wide", output)
    assert "conv.weight" in str(caught.value) and "(12, 3, 3, 3)" in str(caught.value)
    assert not output.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_transfer_weights_command(tmp_path):
    output = tmp_path / "cnn.weights.h5"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit.cli",
            "transfer-weights",
            f"{TWINS}:torch_cnn",
            f"{TWINS}:keras_cnn",
            "-o",
            str(output),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "bn.running_var" in result.stdout and output.exists()
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit.cli",
            "transfer-weights",
            f"{TWINS}:torch_cnn",
            f"{TWINS}:keras_cnn_wide",
            "-o",
            str(tmp_path / "x.weights.h5"),
        ],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert not (tmp_path / "x.weights.h5").exists()
