"""The job sandbox: network isolation, nothing read beyond what was shipped, privml only from the shipped
wheel, several hosts with sharded inputs, training-container contract."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import BUCKET, OUT_KEY, Defs, definition

from pipelines.local.controls import namespaces_available
from pipelines.local.executor import LocalExecutor

REPO = Path(__file__).resolve().parents[3]


def run(defn: dict[str, Any], store: Any, kms: Any, workspace: Path) -> dict[str, Any]:
    return LocalExecutor(defn, store=store, kms=kms, workspace=workspace).run()


def one_step(defs: Defs, source: str, *, isolation: bool = True, extra: dict[str, bytes] | None = None,
             out: bool = True) -> dict[str, Any]:
    code = defs.code("job", source, extra)
    outputs = [("out", f"s3://{BUCKET}/out/job", "/opt/ml/processing/output/out")] if out else []
    return definition([Defs.processing("Job", code, "job.py", isolation=isolation, outputs=outputs)])


CONNECT = """
import socket
s = socket.socket()
s.settimeout(2)
s.connect(("{host}", 443))
"""


@pytest.mark.parametrize("host", ["93.184.216.34", "pypi.org"])
def test_outbound_connection_under_network_isolation_fails(defs: Defs, store: Any, kms: Any, workspace: Path,
                                                          host: str) -> None:
    record = run(one_step(defs, CONNECT.format(host=host)), store, kms, workspace)
    step = record["steps"][0]
    assert step["status"] == "Failed"
    assert "network isolation: outbound connection to" in step["failure_reason"]
    assert step["controls"]["network_isolation"].startswith(("enforced", "emulated"))


@pytest.mark.skipif(not namespaces_available(), reason="needs unprivileged network namespaces")
def test_network_namespace_blocks_even_without_the_audit_hook(defs: Defs, store: Any, kms: Any,
                                                              workspace: Path) -> None:
    # Remove the interpreter's hook from the picture: a child process has no audit hook, only the namespace.
    source = """
        import subprocess, sys
        code = "import socket; s = socket.socket(); s.settimeout(2); s.connect(('93.184.216.34', 443))"
        proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
        assert proc.returncode != 0 and "Network is unreachable" in proc.stderr, proc.stderr
    """
    assert run(one_step(defs, source, out=False), store, kms, workspace)["status"] == "Succeeded"


def test_loopback_allowed_and_no_isolation_recorded_when_not_requested(defs: Defs, store: Any, kms: Any,
                                                                     workspace: Path) -> None:
    source = """
        import socket
        srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
        c = socket.socket(); c.connect(srv.getsockname()); c.close(); srv.close()
    """
    record = run(one_step(defs, source, out=False), store, kms, workspace)
    assert record["status"] == "Succeeded", record["failure_reason"]
    record = run(one_step(defs, "print('hi')", isolation=False, out=False), store, kms, workspace)
    assert record["steps"][0]["controls"]["network_isolation"] == "off (not requested)"


@pytest.mark.parametrize("target", ["repo", "keystore", "workspace_listing"])
def test_reading_outside_what_was_shipped_fails(defs: Defs, store: Any, kms: Any, workspace: Path,
                                               target: str) -> None:
    path = {"repo": REPO / "pyproject.toml", "keystore": Path(kms.path),
            "workspace_listing": workspace}[target]
    op = f"import os; os.listdir({str(path)!r})" if path.is_dir() else f"open({str(path)!r}).read()"
    record = run(one_step(defs, op, out=False), store, kms, workspace)
    reason = record["steps"][0]["failure_reason"]
    assert "reading a path the job was not shipped is refused" in reason


def test_privml_not_importable_unless_shipped(defs: Defs, store: Any, kms: Any, workspace: Path) -> None:
    source = """
        import pathlib
        import privml
        out = pathlib.Path("/opt/ml/processing/output/out"); out.mkdir(parents=True, exist_ok=True)
        (out / "where.txt").write_text(privml.__file__ + "|" + privml.MARKER)
    """
    record = run(one_step(defs, source), store, kms, workspace)
    assert record["steps"][0]["failure_reason"].endswith("ModuleNotFoundError: No module named 'privml'")
    wheel = _wheel({"privml/__init__.py": b"MARKER = 'from-the-shipped-wheel'\n"})
    record = run(one_step(defs, source, extra={"wheels/privml-0.1.0-py3-none-any.whl": wheel}), store, kms, workspace)
    assert record["status"] == "Succeeded", record["failure_reason"]
    where = store.get_bytes(f"s3://{BUCKET}/out/job/where.txt").decode()
    assert where.endswith("|from-the-shipped-wheel") and str(REPO) not in where


def test_shipped_wheel_with_unmet_requirement_fails_like_pip_no_index(defs: Defs, store: Any, kms: Any,
                                                                      workspace: Path) -> None:
    wheel = _wheel({"privml/__init__.py": b""}, requires=["numpy", "no-such-dist-xyz>=1"])
    record = run(one_step(defs, "import privml", extra={"wheels/privml-0.1.0-py3-none-any.whl": wheel}),
                 store, kms, workspace)
    assert "no-such-dist-xyz" in record["steps"][0]["failure_reason"]


def _wheel(files: dict[str, bytes], requires: list[str] = ()) -> bytes:
    buf = io.BytesIO()
    meta = "Metadata-Version: 2.1\nName: privml\nVersion: 0.1.0\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("privml-0.1.0.dist-info/METADATA", meta)
    return buf.getvalue()


SHARD_REPORT = """
import json, os, pathlib
rc = json.loads(pathlib.Path("/opt/ml/config/resourceconfig.json").read_text())
pj = json.loads(pathlib.Path("/opt/ml/config/processingjobconfig.json").read_text())
files = sorted(os.listdir("/opt/ml/processing/input/data"))
out = pathlib.Path("/opt/ml/processing/output/out"); out.mkdir(parents=True, exist_ok=True)
(out / (rc["current_host"] + ".json")).write_text(json.dumps({"rc": rc, "files": files,
    "job": pj["ProcessingJobName"] if "ProcessingJobName" in pj else None}))
"""


def test_instance_count_runs_that_many_hosts_with_sharded_inputs(defs: Defs, store: Any, kms: Any,
                                                                 workspace: Path) -> None:
    for i in range(5):
        defs.put(f"s3://{BUCKET}/raw/part-{i}.csv", b"x\n%d\n" % i)
    code = defs.code("shard", SHARD_REPORT)
    step = Defs.processing("Shard", code, "shard.py", instances=3, distribution="ShardedByS3Key",
                           inputs=[("data", f"s3://{BUCKET}/raw", "/opt/ml/processing/input/data")],
                           outputs=[("out", f"s3://{BUCKET}/out/shard", "/opt/ml/processing/output/out")])
    record = run(definition([step]), store, kms, workspace)
    assert record["status"] == "Succeeded", record["failure_reason"]
    assert record["steps"][0]["hosts"] == 3
    seen = {}
    for host in ("algo-1", "algo-2", "algo-3"):
        report = json.loads(store.get_bytes(f"s3://{BUCKET}/out/shard/{host}.json"))
        assert report["rc"] == {"current_host": host, "hosts": ["algo-1", "algo-2", "algo-3"],
                                "current_instance_type": "local"}  # as SageMaker's local mode says
        seen[host] = report["files"]
    assert seen == {"algo-1": ["part-0.csv", "part-3.csv"], "algo-2": ["part-1.csv", "part-4.csv"],
                    "algo-3": ["part-2.csv"]}


TRAIN = """
import argparse, json, os, pathlib
p = argparse.ArgumentParser(); p.add_argument("--model"); p.add_argument("--seed", type=int)
a = p.parse_args()
env = {k: os.environ[k] for k in ("SM_MODEL_DIR", "SM_CHANNEL_TRAIN", "SM_HP_MODEL", "SM_CURRENT_HOST")}
hp = json.loads(pathlib.Path("/opt/ml/input/config/hyperparameters.json").read_text())
rows = pathlib.Path(os.environ["SM_CHANNEL_TRAIN"], "data.csv").read_text().count("\\n")
model = pathlib.Path(os.environ["SM_MODEL_DIR"])
(model / "model.json").write_text(json.dumps({"args": vars(a), "env": env, "hp": hp, "rows": rows,
                                                "cwd": os.getcwd()}))
"""


def training_step(code_uri: str, drivers_uri: str, train_uri: Any) -> dict[str, Any]:
    return {"Name": "Train", "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "local",
                                   "ContainerEntrypoint": ["/bin/bash"], "ContainerArguments": [
                                       "-c", "chmod +x /opt/ml/input/data/sm_drivers/sm_train.sh && "
                                       "/opt/ml/input/data/sm_drivers/sm_train.sh"]},
        "HyperParameters": {"model": "hgb", "seed": "7"},
        "InputDataConfig": [
            {"ChannelName": n, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": u,
                                                                "S3DataDistributionType": "FullyReplicated"}},
             "InputMode": "File"}
            for n, u in (("train", train_uri), ("code", code_uri), ("sm_drivers", drivers_uri))],
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30,
                           "VolumeKmsKeyId": OUT_KEY},
        "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]},
        "RoleArn": "arn:aws:iam::123456789012:role/x",
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/model", "KmsKeyId": OUT_KEY, "CompressionType": "GZIP"},
        "EnableInterContainerTrafficEncryption": True, "EnableNetworkIsolation": True}}


def test_training_job_contract_from_sm_drivers(defs: Defs, store: Any, kms: Any, workspace: Path) -> None:
    import tarfile

    code = defs.code("train", TRAIN, {"requirements.txt": b"numpy\n"})
    drivers = f"s3://{BUCKET}/drivers"
    defs.put(f"{drivers}/sourcecode.json", json.dumps({
        "source_dir": "src", "requirements": "requirements.txt", "entry_script": "train.py", "command": None,
        "args": None, "ignore_patterns": None}).encode())
    defs.put(f"{drivers}/distributed.json", b"{}")
    defs.put(f"{drivers}/sm_train.sh", b"#!/bin/bash\nexit 99\n")  # must not be run
    defs.put(f"s3://{BUCKET}/splits/train/data.csv", b"a,b\n1,2\n3,4\n")
    record = run(definition([training_step(code, drivers, f"s3://{BUCKET}/splits/train")]), store, kms, workspace)
    assert record["status"] == "Succeeded", record["failure_reason"]
    step = record["steps"][0]
    model_uri = f"s3://{BUCKET}/model/{step['job_name']}/output/model.tar.gz"
    assert step["outputs"] == [model_uri]
    assert "sourcecode.json" in step["controls"]["entry"]
    with tarfile.open(fileobj=io.BytesIO(store.get_bytes(model_uri))) as tar:
        info = json.loads(tar.extractfile("model.json").read())
    assert info["args"] == {"model": "hgb", "seed": 7}
    assert info["hp"] == {"model": "hgb", "seed": "7"}
    assert info["env"]["SM_HP_MODEL"] == "hgb" and info["env"]["SM_CURRENT_HOST"] == "algo-1"
    assert info["rows"] == 3 and info["cwd"].endswith("/opt/ml/input/data/code")


def test_training_requirement_not_shipped_fails(defs: Defs, store: Any, kms: Any, workspace: Path) -> None:
    code = defs.code("train", TRAIN, {"requirements.txt": b"no-such-dist-xyz==1.0\n"})
    drivers = f"s3://{BUCKET}/drivers"
    defs.put(f"{drivers}/sourcecode.json", json.dumps({"source_dir": "src", "requirements": "requirements.txt",
                                                        "entry_script": "train.py"}).encode())
    defs.put(f"s3://{BUCKET}/splits/train/data.csv", b"a\n1\n")
    record = run(definition([training_step(code, drivers, f"s3://{BUCKET}/splits/train")]), store, kms, workspace)
    assert "no-such-dist-xyz" in record["steps"][0]["failure_reason"]
    assert store.list(f"s3://{BUCKET}/model/") == []


@pytest.mark.skipif(not namespaces_available(), reason="needs unprivileged mount namespaces")
def test_child_interpreter_of_a_job_cannot_import_privml_from_the_checkout(defs: Defs, store: Any, kms: Any,
                                                                          workspace: Path) -> None:
    # A child interpreter runs with site-packages' .pth files (the editable install) and without the
    # parent's guard; the checkout is hidden in the job's mount namespace, so the import still fails.
    source = """
        import subprocess, sys
        proc = subprocess.run([sys.executable, "-c", "import privml.errors"], capture_output=True, text=True)
        assert proc.returncode != 0 and "Error" in proc.stderr, proc.stderr
        assert not __import__("os").path.exists({repo!r})
    """.replace("{repo!r}", repr(str(REPO / "privml" / "__init__.py")))
    record = run(one_step(defs, source, out=False), store, kms, workspace)
    assert record["status"] == "Succeeded", record["failure_reason"]
    assert "the source checkout's packages hidden" in record["steps"][0]["controls"]["filesystem"]
