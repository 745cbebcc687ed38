"""`cs model import --from savedmodel`: converts a TensorFlow SavedModel to ONNX with tf2onnx and writes
check samples.

  python export_savedmodel.py --src SAVED_MODEL_DIR --out model.onnx --samples DIR [options]

Conversion is exactly `python -m tf2onnx.convert --saved-model SRC --opset N --output OUT` (plus
`--signature_def NAME` when the SavedModel has no `serving_default`, and `--rename-inputs NAME` when
--input-name is given for a one-input model), run with this same interpreter. The ONNX model's inputs and
outputs keep the signature's names (Keras 3 `model.export(dir)`: `keras_tensor` ... and `output_0` ...).

Then the SavedModel's signature is run with TensorFlow on --check-samples random inputs (numpy
default_rng(SEED + 1): standard normal for float inputs, small integers otherwise) of each input's declared
shape, unknown dimensions taken from --input-shape (one-input models) or, for the batch dimension, 1; every
second sample uses one more in the batch when the batch dimension is dynamic. Inputs and outputs are written
to --samples for `cs` to compare with onnxruntime (see cs_import_common.py).
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cs_import_common import (  # noqa: E402
    EXIT_MISSING_PACKAGE,
    SampleWriter,
    argument_parser,
    batch_sizes,
    describe,
    dtype_name,
    fail,
    parse_shape,
    sample_array,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pick_signature(loaded, src):
    names = list(loaded.signatures.keys())
    if not names:
        fail("%s has no signatures to convert (save it with Keras model.export(dir) or tf.saved_model.save with signatures)" % src)
    return "serving_default" if "serving_default" in names else names[0]


def sample_shapes(specs, given):
    """Concrete shape of each input, with the batch dimension first (None = dynamic)."""
    shapes = []
    for name, spec in specs:
        dims = spec.shape.as_list() if spec.shape.rank is not None else None
        if given is not None and len(specs) == 1:
            if dims is not None and len(dims) != len(given):
                fail("--input-shape %s has rank %d but input %r has shape %s" % (",".join(map(str, given)), len(given), name, dims))
            if dims is not None:
                for i, (d, g) in enumerate(zip(dims, given)):
                    if d is not None and d != g and i > 0:
                        fail("--input-shape %s does not fit input %r of shape %s" % (",".join(map(str, given)), name, dims))
            shapes.append(list(given))
            continue
        if dims is None:
            fail("input %r has no declared shape: give --input-shape" % name)
        concrete = []
        for i, d in enumerate(dims):
            if d is None and i == 0:
                concrete.append(1)
            elif d is None:
                fail("input %r has shape %s with unknown dimensions: give --input-shape" % (name, dims))
            else:
                concrete.append(d)
        shapes.append(concrete)
    return shapes


def main():
    a = argument_parser().parse_args()

    try:
        import numpy as np
        import tensorflow as tf
        import tf2onnx  # noqa: F401 - presence check; the conversion runs it as a module
    except ImportError as e:
        fail("this Python (%s) lacks %s" % (sys.executable, e.name or e), EXIT_MISSING_PACKAGE)

    if not os.path.isdir(a.src) or not os.path.isfile(os.path.join(a.src, "saved_model.pb")):
        fail("%s is not a SavedModel folder (no saved_model.pb in it)" % a.src)
    given = parse_shape(a.input_shape) if a.input_shape else None

    try:
        loaded = tf.saved_model.load(a.src)
    except Exception as e:  # noqa: BLE001
        fail("TensorFlow %s cannot load %s: %s" % (tf.__version__, a.src, describe(e)))
    signature_name = pick_signature(loaded, a.src)
    fn = loaded.signatures[signature_name]
    _, kwargs = fn.structured_input_signature
    specs = sorted(kwargs.items())
    output_specs = sorted(fn.structured_outputs.items())
    if a.input_name and len(specs) != 1:
        fail("--input-name renames the only input, but signature %r has %d inputs: %s" % (signature_name, len(specs), ", ".join(n for n, _ in specs)))

    command = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", a.src, "--opset", str(a.opset), "--output", a.out]
    if signature_name != "serving_default":
        command += ["--signature_def", signature_name]
    if a.input_name:
        command += ["--rename-inputs", a.input_name]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0 or not os.path.isfile(a.out):
        lines = [l for l in result.stdout.splitlines() if l.strip()]
        errors = [l for l in lines if "Error" in l or "error" in l]
        fail("tf2onnx.convert failed (exit %d): %s" % (result.returncode, (errors or lines or ["no output"])[-1]))

    onnx_names = {n: (a.input_name or n) for n, _ in specs}
    shapes = sample_shapes(specs, given)
    dynamic = all(s.shape.rank is not None and s.shape.rank > 0 and s.shape.as_list()[0] is None for _, s in specs)
    writer = SampleWriter(np, a.samples, "tensorflow %s (signature %s)" % (tf.__version__, signature_name))
    rng = np.random.default_rng(a.seed + 1)
    for n in batch_sizes(shapes[0][0] if shapes[0] else 1, a.check_samples, dynamic):
        feeds = {}
        for (name, spec), shape in zip(specs, shapes):
            shape = list(shape)
            if shape:
                shape[0] = n
            feeds[name] = sample_array(np, rng, spec.dtype.as_numpy_dtype, shape)
        outputs = fn(**{k: tf.constant(v) for k, v in feeds.items()})
        got = {k: v.numpy() for k, v in outputs.items()}
        writer.add([(onnx_names[k], feeds[k]) for k, _ in specs], [(k, got[k]) for k, _ in output_specs])

    def declared(name, spec):
        dims = spec.shape.as_list() if spec.shape.rank is not None else None
        return {"name": name, "dtype": dtype_name(np, spec.dtype.as_numpy_dtype), "shape": dims}

    writer.finish([declared(onnx_names[n], s) for n, s in specs], [declared(n, s) for n, s in output_specs])


if __name__ == "__main__":
    main()
