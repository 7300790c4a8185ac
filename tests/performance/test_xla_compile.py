"""Imported TF modules compile with XLA: `tf.function(jit_compile=True)` matches the plain call."""

import numpy as np
import pytest
import tensorflow as tf

import models
import toolkit


# The two reference imports XLA used to refuse: the Keras CNN's flatten (a Reshape whose target is
# built from a Slice of Shape) and the BiLSTM's zero state (an Expand to such a shape). XLA needs
# both targets as compile-time constants, so the Slice must keep a static length.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["keras_cnn", "keras_bilstm"])
def test_imported_module_compiles_with_xla(name):
    reference = models.load_reference(name)
    onnx_model = toolkit.convert(reference.build(), example_inputs=reference.example_inputs())
    imported = toolkit.convert(onnx_model, to="tensorflow")
    compiled = tf.function(lambda *xs: imported(*xs), jit_compile=True)
    for batch in (1, 3):  # a second batch size retraces and compiles again
        inputs = [tf.constant(np.resize(x, (batch, *x.shape[1:]))) for x in reference.example_inputs()]
        np.testing.assert_allclose(compiled(*inputs).numpy(), imported(*inputs).numpy(), rtol=1e-5, atol=1e-5)
