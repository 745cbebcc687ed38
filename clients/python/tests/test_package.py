"""The installed package: shipped schemas identical to the repository's, typed, importable API."""

from __future__ import annotations

from importlib import resources

import cluster_serving
from cluster_serving.codec import SCHEMA_FILES, schema_bytes

from conftest import REPO_ROOT, in_repo, need


def test_shipped_schemas_are_byte_identical_to_the_repository() -> None:
    need(in_repo(), f"not run from the Cluster Serving repository ({REPO_ROOT})")
    repo_dir = REPO_ROOT / "src" / "protocol" / "native"
    repo_files = sorted(p.name for p in repo_dir.glob("*.avsc"))
    assert repo_files == sorted(SCHEMA_FILES), "the repository's schema files changed: update clients/python/src/cluster_serving/schemas"
    for name in SCHEMA_FILES:
        assert schema_bytes(name) == (repo_dir / name).read_bytes(), (
            f"cluster_serving/schemas/{name} differs from src/protocol/native/{name}: copy it over"
        )


def test_package_is_typed_and_ships_its_schemas() -> None:
    package = resources.files("cluster_serving")
    assert package.joinpath("py.typed").is_file()
    for name in SCHEMA_FILES:
        assert package.joinpath("schemas", name).is_file()


def test_public_api() -> None:
    for name in ("InputQueue", "AsyncInputQueue", "OutputQueue", "ClusterServingError", "ClusterServingTimeoutError", "Result", "partition_of"):
        assert hasattr(cluster_serving, name)
    err = cluster_serving.ClusterServingError("CS_ERR_TIMEOUT", "late", uri="u")
    assert isinstance(err, TimeoutError) and isinstance(err, cluster_serving.ClusterServingTimeoutError)
    assert (err.code, err.message, err.uri, str(err)) == ("CS_ERR_TIMEOUT", "late", "u", "CS_ERR_TIMEOUT: late")
    assert not isinstance(cluster_serving.ClusterServingError("CS_ERR_SHAPE", "x"), TimeoutError)
