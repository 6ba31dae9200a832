"""Moving data between the local object store and job directories.

Inputs are decrypted from the store into the job directory (S3Prefix semantics, optional
ShardedByS3Key). Outputs are encrypted into the store only after the job succeeded, all of a step's
outputs as one unit: a journal listing every URI is written before the first put and removed after the
last; a journal left by a killed runner is rolled back (its URIs deleted) at the next start, so a step's
outputs are either all there (and the step recorded) or none. Each single put is atomic in the store.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privml.errors import PrivmlError
from privml.io.atomic import atomic_output
from privml.workspace import private_dir


def join_uri(prefix: str, rel: str) -> str:
    return prefix.rstrip("/") + "/" + rel.lstrip("/")


def list_prefix(store: Any, uri: str) -> list[str]:
    """Object URIs under `uri` as S3Prefix does: the object itself if one has exactly that key, else
    every object under `uri/` — sorted by key."""
    uris = sorted(store.list(uri))
    exact = [u for u in uris if u == uri]
    if exact:
        return exact
    folder = uri.rstrip("/") + "/"
    return [u for u in uris if u.startswith(folder)]


def relative_name(uri: str, obj: str) -> str:
    if obj == uri:
        return obj.rsplit("/", 1)[-1]
    return obj[len(uri.rstrip("/")) + 1:]


def stage_prefix(store: Any, uri: str, dest: Path, *, shard: tuple[int, int] | None = None,
                 what: str = "input") -> list[str]:
    """Decrypt the objects under `uri` into `dest`; with shard (i, n) only every n-th object from i
    (ShardedByS3Key). Returns the object URIs staged. No object at all is an error, as on SageMaker."""
    objects = list_prefix(store, uri)
    if not objects:
        raise PrivmlError(f"{what}: no object found under {uri}")
    if shard is not None:
        index, count = shard
        objects = objects[index::count]
    private_dir(dest)
    for obj in objects:
        target = (dest / relative_name(uri, obj)).resolve()
        if dest.resolve() not in target.parents:
            raise PrivmlError(f"{what}: object key escapes the input directory: {obj}")
        private_dir(target.parent)
        store.get_file(obj, target)
    return objects


def fingerprint(store: Any, uri: str) -> list[tuple[str, str]]:
    """What the cache key sees of an input: each object's URI and the SHA-256 of its content (the store
    keeps no content hash in its plaintext metadata — for a small object that would reveal the value —
    so the object is decrypted to hash it; the digest stays in memory and in the cache key)."""
    return [(obj, hashlib.sha256(store.get_bytes(obj)).hexdigest()) for obj in list_prefix(store, uri)]


def files_under(directory: Path) -> list[tuple[str, Path]]:
    if not directory.is_dir():
        return []
    return sorted((p.relative_to(directory).as_posix(), p) for p in directory.rglob("*") if p.is_file())


@dataclass
class Publication:
    """All outputs of one step: (local file, destination URI) pairs, put together or not at all."""

    items: list[tuple[Path, str]]
    key_id: str

    def uris(self) -> list[str]:
        return [u for _, u in self.items]


def _write_json_atomic(path: Path, payload: Any) -> None:
    data = json.dumps(payload).encode()
    with atomic_output(path) as fd:
        os.write(fd, data)


def publish(store: Any, pub: Publication, journal: Path, metadata: dict[str, str]) -> None:
    """Put every item encrypted under pub.key_id; the journal makes the set roll back if interrupted."""
    dup = {u for u in pub.uris() if pub.uris().count(u) > 1}
    if dup:
        raise PrivmlError(f"two outputs of one step write the same object: {sorted(dup)[0]}")
    private_dir(journal.parent)
    _write_json_atomic(journal, {"uris": pub.uris()})
    try:
        for path, uri in pub.items:
            store.put_file(uri, path, key_id=pub.key_id, metadata=metadata)
    except BaseException:
        roll_back(store, journal)  # a kill -9 cannot get here: the next start rolls the journal back
        raise
    journal.unlink()


def roll_back(store: Any, journal: Path) -> list[str]:
    """Delete what an interrupted publication may have put. Returns the URIs removed."""
    try:
        uris = json.loads(journal.read_text())["uris"]
    except (OSError, ValueError, KeyError):
        uris = []
    removed = []
    for uri in uris:
        if store_exists(store, uri):
            store.delete(uri)
            removed.append(uri)
    journal.unlink(missing_ok=True)
    return removed


def store_exists(store: Any, uri: str) -> bool:
    try:
        store.head(uri)
    except (FileNotFoundError, KeyError, PrivmlError):
        return False
    return True


def all_exist(store: Any, uris: Iterable[str]) -> bool:
    return all(store_exists(store, u) for u in uris)
