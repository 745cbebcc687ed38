"""Shared by the `cs model import` conversion scripts: argument parsing, sample inputs, sample files.

The scripts run in the USER's Python (whatever --python / CS_PYTHON / python3 names), so this file uses only
the standard library and numpy (which torch and TensorFlow both bring). It writes the check samples as raw
little-endian tensors plus a manifest.json; `cs` (Node) then runs onnxruntime-node on the same inputs and
compares, so no onnxruntime is needed in the user's environment.

manifest.json:
  {"framework": "torch 1.13.1", "inputs": [{"name", "dtype", "shape"}], "outputs": [{"name", "dtype", "shape"}],
   "samples": [{"inputs":  [{"name", "dtype", "shape", "file"}],
                "outputs": [{"name", "dtype", "shape", "file"}]}]}
"""

import argparse
import json
import os
import sys

# Exit codes the orchestrator understands (anything else is a conversion failure, shown with its last line).
EXIT_MISSING_PACKAGE = 3
EXIT_USER_ERROR = 4


def argument_parser(input_shape=None, input_name=None):
    """The arguments every conversion script takes (the orchestrator passes them); a script adds its own."""
    p = argparse.ArgumentParser()
    p.add_argument("--src", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--samples", required=True)
    p.add_argument("--input-shape", default=input_shape)
    p.add_argument("--input-name", default=input_name)
    p.add_argument("--opset", type=int, default=13)
    p.add_argument("--check-samples", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    return p


def fail(message, code=EXIT_USER_ERROR):
    """Prints one line for the user on stderr (prefixed so `cs` can find it among library noise) and exits."""
    sys.stderr.write("cs-import-error: " + " ".join(str(message).split()) + "\n")
    sys.stderr.flush()
    sys.exit(code)


def describe(error):
    """One line for an exception: its message's first line, or for TorchScript's multi-line reports the
    final `SomethingError: ...` line, which names the actual problem."""
    lines = [l.strip() for l in str(error).splitlines() if l.strip()]
    if not lines:
        return type(error).__name__
    for line in reversed(lines):
        if line.split(":", 1)[0].endswith("Error") and ":" in line:
            return line
    return lines[0]


def parse_shape(text):
    """'1,3,224,224' -> [1, 3, 224, 224]."""
    try:
        dims = [int(d) for d in text.replace("x", ",").split(",") if d.strip() != ""]
    except ValueError:
        fail("--input-shape must be comma-separated positive integers, e.g. 1,3,224,224 (got %r)" % text)
    if not dims or any(d < 1 for d in dims):
        fail("--input-shape must be comma-separated positive integers, e.g. 1,3,224,224 (got %r)" % text)
    return dims


def sample_array(np, rng, dtype, shape):
    """A random input of the given numpy dtype: standard normal for floats, small non-negative ints otherwise."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(size=shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(dtype)
    return rng.integers(0, 10, size=shape).astype(dtype)


DTYPE_NAMES = {
    "float32": "float32",
    "float64": "float64",
    "int32": "int32",
    "int64": "int64",
    "uint8": "uint8",
    "bool": "bool",
}


def dtype_name(np, dtype):
    name = np.dtype(dtype).name
    if name not in DTYPE_NAMES:
        fail("tensors of dtype %s cannot be checked (supported: %s)" % (name, ", ".join(sorted(DTYPE_NAMES))))
    return DTYPE_NAMES[name]


class SampleWriter:
    """Writes the sample tensors and manifest.json of a check into a folder."""

    def __init__(self, np, folder, framework):
        self.np = np
        self.folder = folder
        self.framework = framework
        self.samples = []
        os.makedirs(folder, exist_ok=True)

    def _write(self, index, kind, position, name, array):
        np = self.np
        array = np.ascontiguousarray(array)
        dtype = dtype_name(np, array.dtype)
        file = "s%d-%s%d.bin" % (index, kind, position)
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        with open(os.path.join(self.folder, file), "wb") as f:
            f.write(little.tobytes())
        return {"name": name, "dtype": dtype, "shape": [int(d) for d in array.shape], "file": file}

    def add(self, inputs, outputs):
        """inputs, outputs: lists of (name, numpy array)."""
        index = len(self.samples)
        self.samples.append(
            {
                "inputs": [self._write(index, "in", i, n, a) for i, (n, a) in enumerate(inputs)],
                "outputs": [self._write(index, "out", i, n, a) for i, (n, a) in enumerate(outputs)],
            }
        )

    def finish(self, inputs, outputs):
        """inputs, outputs: the model's declared tensors, lists of {"name", "dtype", "shape"} (None = any)."""
        manifest = {"framework": self.framework, "inputs": inputs, "outputs": outputs, "samples": self.samples}
        with open(os.path.join(self.folder, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)


def batch_sizes(first, count, dynamic):
    """Batch size of each check sample: the given one, and every second sample one more when the batch
    axis is dynamic, so the check also proves the exported model accepts other batch sizes."""
    return [first + (i % 2 if dynamic else 0) for i in range(count)]
