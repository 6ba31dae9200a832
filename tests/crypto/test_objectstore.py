from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from privml.crypto import envelope
from privml.crypto.bucket_policy import bucket_policy
from privml.crypto.local_kms import LocalKms
from privml.crypto.objectstore import LocalObjectStore, S3ObjectStore
from privml.errors import IntegrityError, KeyUnavailable, PrivmlError

from .conftest import REGION


@pytest.fixture
def store(kms: LocalKms, workspace: Path) -> LocalObjectStore:
    return LocalObjectStore(workspace / "objects", kms)


def test_put_get_list_head_delete(store: LocalObjectStore, kms: LocalKms, tmp_path: Path) -> None:
    bucket_key = kms.create_key("bucket")
    per_put = kms.create_key("model")
    store.set_bucket_key("data", "bucket")
    store.put_bytes("s3://data/raw/people.csv", b"name,age\n", metadata={"Stage": "raw"})
    store.put_bytes("s3://data/raw/nested/x y.bin", b"\x00" * 10, key_id=per_put)
    store.put_bytes("s3://data/model.skops", b"model")
    assert store.get_bytes("s3://data/raw/people.csv") == b"name,age\n"
    assert store.list("s3://data/raw/") == ["s3://data/raw/nested/x y.bin", "s3://data/raw/people.csv"]
    assert store.list("s3://data/") == sorted(store.list("s3://data/"))
    assert len(store.list("s3://data")) == 3
    info = store.head("s3://data/raw/people.csv")
    assert (info.size, info.key_id, info.metadata) == (9, f"local:kms:key/{bucket_key}", {"stage": "raw"})
    assert store.head("s3://data/raw/nested/x y.bin").key_id == f"local:kms:key/{per_put}"
    src = tmp_path / "big"
    src.write_bytes(os.urandom(3 << 20))
    store.put_file("s3://data/big", src)
    store.get_file("s3://data/big", tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == src.read_bytes()
    assert store.head("s3://data/big").size == 3 << 20
    store.delete("s3://data/big")
    store.delete("s3://data/big")  # idempotent, like S3
    with pytest.raises(PrivmlError, match="no such object"):
        store.get_bytes("s3://data/big")


def test_objects_are_encrypted_at_rest(store: LocalObjectStore, kms: LocalKms, workspace: Path) -> None:
    store.put_bytes("s3://bk1/k", b"alice@example.com", key_id=kms.create_key())
    files = [p for p in (workspace / "objects").rglob("*") if p.is_file() and p.name != ".bucket.json"]
    assert len(files) == 1
    raw = files[0].read_bytes()
    assert b"alice" not in raw and raw[0] == 0x02  # an AWS Encryption SDK message


def test_no_key_means_no_put(store: LocalObjectStore, workspace: Path) -> None:
    with pytest.raises(PrivmlError, match="never stores plaintext"):
        store.put_bytes("s3://nokey/k", b"data")
    assert not list((workspace / "objects").rglob("*.obj"))


def test_moved_object_fails_to_open(store: LocalObjectStore, kms: LocalKms, workspace: Path) -> None:
    store.set_bucket_key("bkt", kms.create_key())
    store.put_bytes("s3://bkt/a", b"A")
    store.put_bytes("s3://bkt/b", b"B")
    a, b = workspace / "objects" / "bkt" / "a.obj", workspace / "objects" / "bkt" / "b.obj"
    b.write_bytes(a.read_bytes())
    with pytest.raises(IntegrityError, match="encryption context mismatch"):
        store.get_bytes("s3://bkt/b")


def test_disabled_bucket_key(store: LocalObjectStore, kms: LocalKms) -> None:
    key_id = kms.create_key()
    store.set_bucket_key("bkt", key_id)
    store.put_bytes("s3://bkt/a", b"A")
    kms.disable(key_id)
    with pytest.raises(KeyUnavailable, match="disabled"):
        store.get_bytes("s3://bkt/a")
    with pytest.raises(KeyUnavailable, match="disabled"):
        store.put_bytes("s3://bkt/b", b"B")


@pytest.mark.parametrize(
    "uri", ["http://b/k", "s3://B/k", "s3://bkt/", "s3://bkt/../x", "s3://bkt/a//b", "s3:///k", "s3://bkt/./a"]
)
def test_bad_uris(store: LocalObjectStore, kms: LocalKms, uri: str) -> None:
    with pytest.raises(PrivmlError):
        store.put_bytes(uri, b"x", key_id=kms.create_key())


def test_concurrent_readers_never_see_half_an_object(store: LocalObjectStore, kms: LocalKms) -> None:
    store.set_bucket_key("bkt", kms.create_key())
    versions = [bytes([i]) * (256 << 10) for i in range(6)]
    store.put_bytes("s3://bkt/obj", versions[0])
    seen: list[bytes] = []
    errors: list[Exception] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                seen.append(store.get_bytes("s3://bkt/obj"))
            except Exception as exc:  # collected and asserted below
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    for v in versions[1:] * 3:
        store.put_bytes("s3://bkt/obj", v)
    done.set()
    thread.join()
    assert not errors and seen and all(s in versions for s in seen)


def test_s3_store_puts_with_sse_kms(aws: Any, tmp_path: Path) -> None:
    s3 = aws.client("s3", region_name=REGION)
    kms = aws.client("kms", region_name=REGION)
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    other_arn = kms.create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket="privml-data")
    store = S3ObjectStore(s3)
    with pytest.raises(PrivmlError, match="never stores plaintext"):
        store.put_bytes("s3://privml-data/x", b"x")
    store.set_bucket_key("privml-data", key_arn)
    store.put_bytes("s3://privml-data/a/one", b"one", metadata={"stage": "raw"})
    store.put_bytes("s3://privml-data/a/two", b"two", key_id=other_arn)
    src = tmp_path / "f"
    src.write_bytes(b"file" * 1000)
    store.put_file("s3://privml-data/b/file", src)
    assert store.get_bytes("s3://privml-data/a/one") == b"one"
    store.get_file("s3://privml-data/b/file", tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == src.read_bytes()
    assert store.list("s3://privml-data/a/") == ["s3://privml-data/a/one", "s3://privml-data/a/two"]
    one = store.head("s3://privml-data/a/one")
    assert (one.size, one.key_id, one.metadata) == (3, key_arn, {"stage": "raw"})
    assert store.head("s3://privml-data/a/two").key_id == other_arn
    for key in ("a/one", "b/file"):
        head = s3.head_object(Bucket="privml-data", Key=key)
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_arn
    enc = s3.get_bucket_encryption(Bucket="privml-data")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert enc["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    store.delete("s3://privml-data/a/one")
    with pytest.raises(PrivmlError, match="no such object"):
        store.get_bytes("s3://privml-data/a/one")
    # A fresh store finds the bucket's default key on S3 itself.
    S3ObjectStore(s3).put_bytes("s3://privml-data/c", b"c")
    assert s3.head_object(Bucket="privml-data", Key="c")["SSEKMSKeyId"] == key_arn


def test_s3_store_refuses_plain_http(aws: Any) -> None:
    s3 = aws.client("s3", region_name=REGION, endpoint_url="http://s3.example.com")
    with pytest.raises(PrivmlError, match="not HTTPS"):
        S3ObjectStore(s3)


def test_bucket_policy(aws: Any) -> None:
    key_arn = aws.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    policy = bucket_policy("privml-data", key_arn)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert all(s["Effect"] == "Deny" for s in policy["Statement"])
    assert by_sid["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert by_sid["DenyPutWithoutSseKms"]["Condition"] == {
        "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}
    }
    assert by_sid["DenyPutWithOtherKmsKey"]["Condition"] == {
        "StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}
    }
    assert by_sid["DenyPutWithOtherKmsKey"]["Resource"] == "arn:aws:s3:::privml-data/*"
    s3 = aws.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="privml-data")
    s3.put_bucket_policy(Bucket="privml-data", Policy=json.dumps(policy))  # S3 accepts the document
    assert json.loads(s3.get_bucket_policy(Bucket="privml-data")["Policy"]) == policy
    for bad in (("Bad_Bucket", key_arn), ("privml-data", "alias/x")):
        with pytest.raises(PrivmlError):
            bucket_policy(*bad)


def test_head_reads_without_decrypting(store: LocalObjectStore, kms: LocalKms, workspace: Path) -> None:
    key_id = kms.create_key()
    store.put_bytes("s3://bkt/k", b"12345", key_id=key_id, metadata={"rows": "5"})
    kms.disable(key_id)  # head needs no key
    assert store.head("s3://bkt/k").metadata == {"rows": "5"}
    assert envelope.read_header(workspace / "objects" / "bkt" / "k.obj").context["privml:size"] == "5"


def test_put_file_leaves_no_staging_files(store: LocalObjectStore, kms: LocalKms, tmp_path: Path) -> None:
    store.set_bucket_key("bkt", kms.create_key())
    src = tmp_path / "f"
    src.write_bytes(b"v1")
    store.put_file("s3://bkt/f", src)
    src.write_bytes(b"version 2")
    store.put_file("s3://bkt/f", src)
    assert store.get_bytes("s3://bkt/f") == b"version 2"
    assert sorted(p.name for p in (store.root / "bkt").iterdir()) == [".bucket.json", "f.obj"]
    with pytest.raises(PrivmlError, match="input file not found"):
        store.put_file("s3://bkt/g", tmp_path / "missing")


def test_every_directory_the_store_creates_is_0700(kms: LocalKms, tmp_path: Path) -> None:
    # mkdir(parents=True, mode=0o700) applies the mode to the last level only: the bucket and the prefix
    # directories above an object would get the umask's 0755 and list the object names to other users.
    old_umask = os.umask(0o022)
    try:
        root = tmp_path / "ws" / "objects"
        store = LocalObjectStore(root, kms)
        kms.create_key("bucket")
        store.set_bucket_key("data", "bucket")
        store.put_bytes("s3://data/a/b/c/people.csv", b"name,age\n")
        src = tmp_path / "src"
        src.write_bytes(b"x")
        store.put_file("s3://other/d/e/f.bin", src, key_id="bucket")
    finally:
        os.umask(old_umask)
    created = [tmp_path / "ws", *[p for p in root.rglob("*") if p.is_dir()], root]
    assert len(created) >= 9
    loose = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in created if p.stat().st_mode & 0o077}
    assert loose == {}
