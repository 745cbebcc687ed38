"""The KServe v2 gRPC API of a real server (``cs start --grpc-port``), through the real PyPI ``tritonclient[grpc]``
client: health, metadata, inference with raw and typed inputs compared with ``onnxruntime`` on the same model file,
and errors as gRPC statuses (fixtures: conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import Server, _batch, _import


@pytest.fixture()
def gclient(server: Server):
    grpcclient = _import("tritonclient.grpc")
    c = grpcclient.InferenceServerClient(url=server.grpc_url)
    yield c
    c.close()


def test_grpc_server_is_live_ready_and_describes_itself(gclient) -> None:
    assert gclient.is_server_live()
    assert gclient.is_server_ready()
    meta = gclient.get_server_metadata(as_json=True)
    assert meta["name"] == "cluster-serving"


def test_grpc_model_ready_and_metadata(gclient, server: Server) -> None:
    assert gclient.is_model_ready(server.model)
    assert gclient.is_model_ready(server.model, model_version="1")
    meta = gclient.get_model_metadata(server.model, as_json=True)
    assert meta["name"] == server.model
    assert meta["versions"] == ["1"]
    assert meta["platform"] == "onnxruntime_onnx"
    assert [(i["name"], i["datatype"], [int(d) for d in i["shape"]]) for i in meta["inputs"]] == [("input", "FP32", [-1, 16])]
    assert [(o["name"], o["datatype"], [int(d) for d in o["shape"]]) for o in meta["outputs"]] == [("output", "FP32", [-1, 8])]


def test_grpc_unknown_model_is_not_found(gclient) -> None:
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException) as info:
        gclient.get_model_metadata("no-such-model")
    assert info.value.status() == "StatusCode.NOT_FOUND"
    assert "no-such-model" in info.value.message()
    # ModelReady of an unknown model is NOT_FOUND too (as Triton answers it), which tritonclient raises.
    with pytest.raises(InferenceServerException) as ready:
        gclient.is_model_ready("no-such-model")
    assert ready.value.status() == "StatusCode.NOT_FOUND"


def test_grpc_infer_equals_onnxruntime(gclient, server: Server, ort_session) -> None:
    grpcclient = _import("tritonclient.grpc")
    x = _batch(4, 21)
    inp = grpcclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)  # raw_input_contents
    result = gclient.infer(server.model, [inp], outputs=[grpcclient.InferRequestedOutput("output")], request_id="g-7")
    got = result.as_numpy("output")
    assert got.dtype == np.float32
    assert got.shape == (4, 8)
    np.testing.assert_array_equal(got, ort_session.run(["output"], {"input": x})[0])
    response = result.get_response(as_json=True)
    assert response["model_name"] == server.model
    assert response["id"] == "g-7"


def test_grpc_typed_contents_equal_onnxruntime(gclient, server: Server, ort_session) -> None:
    """The request's inputs in the typed ``contents.fp32_contents`` field instead of raw bytes."""
    grpcclient = _import("tritonclient.grpc")
    from tritonclient.grpc import service_pb2

    x = _batch(2, 22)
    request = service_pb2.ModelInferRequest(model_name=server.model)
    tensor = request.inputs.add(name="input", datatype="FP32", shape=list(x.shape))
    tensor.contents.fp32_contents.extend(x.ravel().tolist())
    response = gclient._client_stub.ModelInfer(request)
    result = grpcclient.InferResult(response)
    np.testing.assert_array_equal(result.as_numpy("output"), ort_session.run(["output"], {"input": x})[0])


def test_grpc_async_requests_are_all_answered(gclient, server: Server, ort_session) -> None:
    grpcclient = _import("tritonclient.grpc")
    import queue

    answers: "queue.Queue[tuple[int, object, object]]" = queue.Queue()
    inputs = [_batch(1, 300 + k) for k in range(32)]
    for k, x in enumerate(inputs):
        inp = grpcclient.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        gclient.async_infer(server.model, [inp], callback=lambda result, error, k=k: answers.put((k, result, error)))
    for _ in inputs:
        k, result, error = answers.get(timeout=60)
        assert error is None, error
        np.testing.assert_array_equal(result.as_numpy("output"), ort_session.run(["output"], {"input": inputs[k]})[0])


def test_grpc_wrong_shape_is_invalid_argument_naming_the_input(gclient, server: Server) -> None:
    grpcclient = _import("tritonclient.grpc")
    from tritonclient.utils import InferenceServerException

    x = np.zeros((1, 15), dtype=np.float32)
    inp = grpcclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    with pytest.raises(InferenceServerException) as info:
        gclient.infer(server.model, [inp])
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert 'input "input"' in info.value.message()
    assert "[-1, 16]" in info.value.message()


def test_grpc_unknown_model_inference_is_not_found(gclient) -> None:
    grpcclient = _import("tritonclient.grpc")
    from tritonclient.utils import InferenceServerException

    x = np.zeros((1, 16), dtype=np.float32)
    inp = grpcclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    with pytest.raises(InferenceServerException) as info:
        gclient.infer("no-such-model", [inp])
    assert info.value.status() == "StatusCode.NOT_FOUND"
