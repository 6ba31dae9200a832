"""Shipping code to isolated jobs: the privml wheel and the wheelhouse check."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from pipelines import packaging
from privml.errors import PrivmlError


def test_wheel_is_deterministic_and_complete(tmp_path: Path) -> None:
    first = packaging.build_privml_wheel(tmp_path / "a")
    second = packaging.build_privml_wheel(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        record = archive.read(next(n for n in names if n.endswith("RECORD"))).decode()
    assert all(name in record for name in names)
    assert not any("__pycache__" in n for n in names)


def test_missing_dependency_wheels(tmp_path: Path) -> None:
    requirements = [packaging.requirement_name(r) for r in packaging.read_project().requirements]
    assert "sagemaker" not in requirements and "pydantic" in requirements
    assert packaging.missing_dependency_wheels(None) == sorted(requirements)
    for name in requirements[1:]:
        (tmp_path / f"{name.replace('-', '_')}-1.0-py3-none-any.whl").write_bytes(b"")
    assert packaging.missing_dependency_wheels(tmp_path) == [requirements[0]]


def test_bundle_layout_and_bad_paths(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("print('x')\n")
    wheel = packaging.build_privml_wheel(tmp_path / "dist")
    house = tmp_path / "house"
    house.mkdir()
    (house / "numpy-2.0-cp311-cp311-manylinux2014_x86_64.whl").write_bytes(b"")
    bundle = packaging.make_bundle(script, tmp_path / "bundle", wheel, house)
    assert sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*.*")) == sorted(
        ["job.py", f"wheels/{wheel.name}", "wheels/numpy-2.0-cp311-cp311-manylinux2014_x86_64.whl"]
    )
    with pytest.raises(PrivmlError, match="entry script"):
        packaging.make_bundle(tmp_path / "missing.py", tmp_path / "b2", wheel, None)
    with pytest.raises(PrivmlError, match=r"code\.wheelhouse"):
        packaging.make_bundle(script, tmp_path / "b3", wheel, tmp_path / "nowhere")
