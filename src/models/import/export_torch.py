"""`cs model import --from torchscript|torch`: exports a PyTorch model to ONNX and writes check samples.

  python export_torch.py --kind torchscript --src model.pt --out model.onnx --samples DIR [options]
  python export_torch.py --kind torch --src module.py:factory --out model.onnx --samples DIR [options]

torchscript: SRC is a file written by torch.jit.save (a scripted or traced module), loaded on the CPU.
torch (eager): SRC is `module.py:factory`, a Python file and the name of a callable in it that takes no
arguments and returns the torch.nn.Module (with its weights loaded). The file's folder is put on sys.path
first, so it can import its neighbours; torch.manual_seed(SEED) is called before the factory.

The module is put in eval mode and exported with torch.onnx.export: one input named --input-name of shape
--input-shape (float32), outputs `output` (or `output_0`, `output_1`, ... when the module returns several
tensors), a dynamic batch axis (dimension 0) on every input and output. Then the original module is run on
--check-samples random inputs (numpy default_rng(SEED + 1)), and inputs and outputs are written to --samples
for `cs` to compare with onnxruntime (see cs_import_common.py).
"""

import importlib.util
import os
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
)


def flatten(value):
    """The tensors of a module's result, in order (tensor, tuple/list of tensors, or nested)."""
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out.extend(flatten(v))
        return out
    if isinstance(value, dict):
        out = []
        for k in value:
            out.extend(flatten(value[k]))
        return out
    fail("the model returned %s; only tensors (or tuples / lists / dicts of tensors) can be exported" % type(value).__name__)


def load_torchscript(torch, src):
    if not os.path.isfile(src):
        fail("TorchScript file not found: %s" % src)
    try:
        return torch.jit.load(src, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any failure is the user's file
        fail("%s is not a TorchScript file torch %s can load (torch.jit.load: %s)" % (src, torch.__version__, describe(e)))


def load_eager(torch, src, seed):
    path, sep, factory_name = src.rpartition(":")
    if not sep or not path or not factory_name:
        fail("--from torch needs SRC as module.py:factory (a Python file and a function returning the nn.Module), got %r" % src)
    if not os.path.isfile(path):
        fail("Python file not found: %s" % path)
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("cs_user_model", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as e:
        name = getattr(e, "name", None) or str(e)
        fail("%s imports %s, which this Python (%s) lacks" % (path, name, sys.executable), EXIT_MISSING_PACKAGE)
    factory = getattr(module, factory_name, None)
    if factory is None or not callable(factory):
        fail("%s has no function %r (SRC is module.py:factory)" % (path, factory_name))
    torch.manual_seed(seed)
    model = factory()
    if not isinstance(model, torch.nn.Module):
        fail("%s:%s() returned %s, not a torch.nn.Module" % (path, factory_name, type(model).__name__))
    return model


def main():
    p = argument_parser(input_shape="1,3,224,224", input_name="input")
    p.add_argument("--kind", choices=["torchscript", "torch"], required=True)
    a = p.parse_args()

    try:
        import numpy as np
        import torch
    except ImportError as e:
        fail("this Python (%s) lacks %s" % (sys.executable, e.name or e), EXIT_MISSING_PACKAGE)

    shape = parse_shape(a.input_shape)
    torch.set_grad_enabled(False)
    model = load_torchscript(torch, a.src) if a.kind == "torchscript" else load_eager(torch, a.src, a.seed)
    model.eval()

    rng = np.random.default_rng(a.seed)
    example = torch.from_numpy(rng.standard_normal(size=shape).astype(np.float32))
    try:
        first = flatten(model(example))
    except Exception as e:  # noqa: BLE001
        fail("the model failed on an example input of shape %s (set --input-shape to what it takes): %s" % (",".join(map(str, shape)), describe(e)))
    output_names = ["output"] if len(first) == 1 else ["output_%d" % i for i in range(len(first))]
    dynamic = {a.input_name: {0: "batch"}}
    for name in output_names:
        dynamic[name] = {0: "batch"}

    try:
        torch.onnx.export(
            model,
            (example,),
            a.out,
            input_names=[a.input_name],
            output_names=output_names,
            dynamic_axes=dynamic,
            opset_version=a.opset,
            do_constant_folding=True,
        )
    except Exception as e:  # noqa: BLE001
        fail("torch.onnx.export failed (opset %d): %s" % (a.opset, describe(e)))

    writer = SampleWriter(np, a.samples, "torch %s" % torch.__version__)
    check_rng = np.random.default_rng(a.seed + 1)
    for n in batch_sizes(shape[0], a.check_samples, True):
        x = check_rng.standard_normal(size=[n] + shape[1:]).astype(np.float32)
        ys = flatten(model(torch.from_numpy(x)))
        writer.add([(a.input_name, x)], [(name, y.detach().cpu().numpy()) for name, y in zip(output_names, ys)])
    writer.finish(
        [{"name": a.input_name, "dtype": "float32", "shape": [None] + shape[1:]}],
        [{"name": name, "dtype": dtype_name(np, y.detach().cpu().numpy().dtype), "shape": [None] + list(y.shape[1:])} for name, y in zip(output_names, first)],
    )


if __name__ == "__main__":
    main()
