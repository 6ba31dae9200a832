"""Fixtures for the local executor: a workspace with a local KMS and object store, and helpers that
write small hand-made pipeline definitions whose jobs are tiny scripts."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from privml.crypto.local_kms import LocalKms

BUCKET = "privml-test"
OUT_KEY = "alias/privml-test-out"


def make_store(workspace: Path, kms: LocalKms) -> Any:
    from privml.crypto.objectstore import LocalObjectStore

    store = LocalObjectStore(workspace / "objects", kms)
    store.set_bucket_key(BUCKET, OUT_KEY)
    return store


@pytest.fixture
def kms(workspace: Path) -> LocalKms:
    k = LocalKms.open(workspace)
    k.ensure_key(OUT_KEY)
    return k


@pytest.fixture
def store(workspace: Path, kms: LocalKms) -> Any:
    return make_store(workspace, kms)


class Defs:
    """Builds definition JSON the way SDK v3 `Pipeline.definition()` lays it out."""

    def __init__(self, store: Any, tmp: Path) -> None:
        self.store, self.tmp = store, tmp

    def code(self, name: str, source: str, extra: dict[str, bytes] | None = None) -> str:
        """Upload a job script (and extra files beside it) and return the code prefix URI."""
        prefix = f"s3://{BUCKET}/code/{name}"
        path = self.tmp / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        self.store.put_file(f"{prefix}/{name}.py", path, key_id=OUT_KEY)
        for rel, data in (extra or {}).items():
            p = self.tmp / rel.replace("/", "_")
            p.write_bytes(data)
            self.store.put_file(f"{prefix}/{rel}", p, key_id=OUT_KEY)
        return prefix

    def put(self, uri: str, data: bytes) -> None:
        p = self.tmp / "upload.bin"
        p.write_bytes(data)
        self.store.put_file(uri, p, key_id=OUT_KEY)

    @staticmethod
    def processing(name: str, code_prefix: str, script: str, *, inputs: list[tuple[str, Any, str]] = (),
                   outputs: list[tuple[str, str, str]] = (), args: list[Any] = (), instances: int = 1,
                   isolation: bool = True, key: str | None = OUT_KEY, cache: bool = False,
                   property_files: list[dict[str, str]] | None = None, depends_on: list[str] | None = None,
                   distribution: str = "FullyReplicated") -> dict[str, Any]:
        proc_inputs = [
            {"InputName": n, "S3Input": {"S3Uri": uri, "LocalPath": lp, "S3DataType": "S3Prefix",
                                          "S3InputMode": "File", "S3DataDistributionType": distribution,
                                          "S3CompressionType": "None"}}
            for n, uri, lp in inputs
        ]
        proc_inputs.append({"InputName": "code", "S3Input": {
            "S3Uri": code_prefix, "LocalPath": "/opt/ml/processing/input/code", "S3DataType": "S3Prefix",
            "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}})
        out_cfg: dict[str, Any] = {"Outputs": [
            {"OutputName": n, "S3Output": {"S3Uri": uri, "LocalPath": lp, "S3UploadMode": "EndOfJob"}}
            for n, uri, lp in outputs
        ]}
        if key:
            out_cfg["KmsKeyId"] = key
        step: dict[str, Any] = {
            "Name": name,
            "Type": "Processing",
            "Arguments": {
                "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": instances,
                                                          "VolumeSizeInGB": 30, "VolumeKmsKeyId": OUT_KEY}},
                "AppSpecification": {"ImageUri": "local", "ContainerEntrypoint": [
                    "python3", f"/opt/ml/processing/input/code/{script}"], "ContainerArguments": list(args)},
                "RoleArn": "arn:aws:iam::123456789012:role/x",
                "ProcessingInputs": proc_inputs,
                "ProcessingOutputConfig": out_cfg,
                "NetworkConfig": {"EnableNetworkIsolation": isolation, "EnableInterContainerTrafficEncryption": True,
                                  "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}},
            },
        }
        if cache:
            step["CacheConfig"] = {"Enabled": True, "ExpireAfter": "P30D"}
        if property_files:
            step["PropertyFiles"] = property_files
        if depends_on:
            step["DependsOn"] = depends_on
        return step


@pytest.fixture
def defs(store: Any, tmp_path: Path) -> Defs:
    return Defs(store, tmp_path)


def definition(steps: list[dict[str, Any]], parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return json.loads(json.dumps({"Version": "2020-12-01", "Metadata": {}, "Parameters": parameters or [],
                                  "Steps": steps}))
