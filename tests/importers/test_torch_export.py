"""The .pt2 and .py writers give the same outputs as the in-memory module, without the toolkit."""

import subprocess
import sys

import numpy as np
import onnx
import torch

from toolkit.importers.torch import import_onnx, save
from toolkit.importers.torch.export import example_inputs_for

CONV = onnx.__path__[0] + "/backend/test/data/pytorch-converted/test_Conv2d/model.onnx"


def test_pt2_and_python_outputs_match(tmp_path):
    module = import_onnx(CONV)
    (x,) = example_inputs_for(module)  # the graph input's declared shape
    expected = module(x).detach().numpy()
    save(module, tmp_path / "model.pt2")
    save(module, tmp_path / "model.py")
    assert (tmp_path / "model.safetensors").exists()
    np.save(tmp_path / "x.npy", x.numpy())
    script = (
        "import sys, numpy as np, torch; sys.path.insert(0, sys.argv[1]);"
        "from model import OnnxModule; x = torch.from_numpy(np.load(sys.argv[1] + '/x.npy'));"
        "a = OnnxModule()(x); b = torch.export.load(sys.argv[1] + '/model.pt2').module()(x);"
        "np.save(sys.argv[1] + '/a.npy', a.detach().numpy()); np.save(sys.argv[1] + '/b.npy', b.detach().numpy())"
    )
    # A fresh interpreter that never imports toolkit.
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, cwd=tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), expected, rtol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "b.npy"), expected, rtol=1e-6)
