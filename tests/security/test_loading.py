"""Finding 4 (loading): a 1 MB skops zip bomb and a 3 GiB sparse tar reached GBs of RSS before they were
refused, and a truncated model.tar.gz exited 3. Each is refused from the archive's own metadata now,
with a bounded allocation, as bad input (exit 2)."""

from __future__ import annotations

import gzip
import io
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from privml.errors import PrivmlError


def _model_skops(model) -> bytes:
    from privml.models.persistence import dumps_model

    return dumps_model(model)


def _tar_gz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _info(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info


def _peak_while(fn) -> tuple[BaseException | None, int]:
    tracemalloc.start()
    try:
        fn()
        error = None
    except BaseException as exc:
        error = exc
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return error, peak


def test_skops_zip_bomb_is_refused_before_inflating() -> None:
    from privml.models.persistence import loads_model

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("schema.json", "{}")
        archive.writestr("bomb.npy", b"\0" * (64 << 20))  # 64 MiB of zeros: ~64 kB compressed
    data = buffer.getvalue()
    assert len(data) < 200_000
    error, peak = _peak_while(lambda: loads_model(data, "bomb.skops"))
    assert isinstance(error, PrivmlError) and "ratio" in str(error)
    assert peak < 8 << 20, peak


def test_skops_member_count_is_bounded(monkeypatch) -> None:
    from privml.models import persistence

    monkeypatch.setattr(persistence, "MAX_MEMBERS", 50)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(51):
            archive.writestr(f"m{i}.npy", b"")
    with pytest.raises(PrivmlError, match="members"):
        persistence.loads_model(buffer.getvalue(), "many.skops")


def test_sparse_giant_in_the_archive_is_refused_at_its_header(tmp_path: Path) -> None:
    """A member declaring 3 GiB: refused from its header, before tarfile inflates (or skips) it."""
    from inference.model_source import model_bytes

    header = _info("code/huge.bin", 3 << 30).tobuf(format=tarfile.GNU_FORMAT)
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(gzip.compress(header + b"\0" * (1 << 20)))
    error, peak = _peak_while(lambda: model_bytes(archive, tmp_path))
    assert isinstance(error, PrivmlError) and "ratio" in str(error), error
    assert peak < 16 << 20, peak


def test_model_member_over_the_size_cap_is_refused(tmp_path: Path, monkeypatch) -> None:
    from inference import model_source
    from privml.models import archive as model_archive

    monkeypatch.setattr(model_archive, "MAX_MODEL_BYTES", 1 << 20)
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(_tar_gz([(_info("model.skops", 2 << 20), b"x" * (2 << 20))]))
    with pytest.raises(PrivmlError, match="larger than"):
        model_source.model_bytes(archive, tmp_path)


def test_truncated_archive_is_bad_input(tmp_path: Path, security_model) -> None:
    from inference.model_source import model_bytes

    skops = _model_skops(security_model)
    whole = _tar_gz([(_info("model.skops", len(skops)), skops)])
    archive = tmp_path / "model.tar.gz"
    for cut in (len(whole) // 2, len(whole) - 40, 30):
        archive.write_bytes(whole[:cut])
        with pytest.raises(PrivmlError) as info:
            model_bytes(archive, tmp_path)
        assert info.value.exit_code == 2


def test_truncated_archive_exits_2_from_the_cli(tmp_path: Path, security_model) -> None:
    import os
    import subprocess
    import sys

    skops = _model_skops(security_model)
    whole = _tar_gz([(_info("model.skops", len(skops)), skops)])
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(whole[: len(whole) // 2])
    env = {**os.environ, "PRIVML_WORKSPACE": str(tmp_path / "ws")}
    result = subprocess.run([sys.executable, "-m", "privml", "serve", str(archive), "--port", "0"],
                            cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stderr[-500:]
    # one line naming the archive, as bad input (not an internal error, not a traceback)
    assert result.stderr.startswith("privml: error:") and "model.tar.gz" in result.stderr, result.stderr[-500:]
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_archive_traversal_and_links_are_not_read(tmp_path: Path, security_model) -> None:
    """../model.skops, /model.skops and a symlink named model.skops are not the model."""
    from inference.model_source import model_bytes

    skops = _model_skops(security_model)
    link = _info("model.skops", 0, tarfile.SYMTYPE)
    link.linkname = "/etc/passwd"
    for members in ([(_info("../model.skops", len(skops)), skops)],
                    [(_info("sub/../../model.skops", len(skops)), skops)],
                    [(link, None)]):
        archive = tmp_path / "model.tar.gz"
        archive.write_bytes(_tar_gz(members))
        with pytest.raises(PrivmlError):
            model_bytes(archive, tmp_path)


def test_well_formed_archive_still_loads(tmp_path: Path, security_model) -> None:
    from inference.model_source import model_bytes

    skops = _model_skops(security_model)
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(_tar_gz([(_info("code/inference.py", 5), b"pass\n"),
                                 (_info("model.skops", len(skops)), skops)]))
    data, _ = model_bytes(archive, tmp_path)
    assert data == skops


class _Zeros(io.RawIOBase):
    """`size` zero bytes as a stream, so a bomb can be packed without holding it in memory."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = b"\0" * count
        self.left -= count
        return count


def test_evaluate_job_refuses_an_archive_bomb_before_inflating(tmp_path: Path) -> None:
    """The Evaluate job reads model.tar.gz with the endpoint's bounded reader: 256 MiB of zeros
    declared in a ~250 kB archive is refused at the member's header, not read into memory."""
    from privml.models.evaluation import load_model_input

    size = 256 << 20
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    with tarfile.open(model_dir / "model.tar.gz", "w:gz") as tar:
        tar.addfile(_info("model.skops", size), io.BufferedReader(_Zeros(size)))
    assert (model_dir / "model.tar.gz").stat().st_size < 1 << 20
    error, peak = _peak_while(lambda: load_model_input(model_dir))
    assert isinstance(error, PrivmlError) and "ratio" in str(error), error
    assert peak < 16 << 20, peak


def test_evaluate_job_refuses_a_truncated_archive_as_bad_input(tmp_path: Path, security_model) -> None:
    from privml.models.evaluation import load_model_input

    skops = _model_skops(security_model)
    whole = _tar_gz([(_info("model.skops", len(skops)), skops), (_info("metadata.json", 2), b"{}")])
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for cut in (len(whole) // 2, len(whole) - 40, 30):
        (model_dir / "model.tar.gz").write_bytes(whole[:cut])
        with pytest.raises(PrivmlError) as info:
            load_model_input(model_dir)
        assert info.value.exit_code == 2
