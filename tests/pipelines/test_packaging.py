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


def test_job_requirement_set_leaves_orchestration_and_serving_out() -> None:
    project = packaging.read_project()
    jobs = {packaging.requirement_name(r) for r in project.requirements}
    serving = {packaging.requirement_name(r) for r in project.serving_requirements}
    orchestration = {packaging.requirement_name(r) for r in project.orchestration_requirements}
    assert {"sagemaker", "moto"} <= orchestration and not jobs & (orchestration | serving)
    assert serving == {"uvicorn", "httptools", "uvloop", "starlette"}
    assert "pydantic" in jobs
    # together they are exactly what `pip install .` installs
    import tomllib

    declared = tomllib.loads((packaging.REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(project.requirements + project.serving_requirements + project.orchestration_requirements) == sorted(
        declared)


def test_bundle_layout_and_bad_paths(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("print('x')\n")
    wheel = packaging.build_privml_wheel(tmp_path / "dist")
    house = tmp_path / "house"
    house.mkdir()
    (house / "numpy-2.0-cp311-cp311-manylinux2014_x86_64.whl").write_bytes(b"")
    bundle = packaging.make_bundle(script, tmp_path / "bundle", wheel, house)
    assert sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*.*")) == sorted(
        ["job.py", "job_runner.py", f"wheels/{wheel.name}",
         "wheels/numpy-2.0-cp311-cp311-manylinux2014_x86_64.whl"]
    )
    assert (bundle / "job_runner.py").read_bytes() == (packaging.REPO_ROOT / packaging.JOB_RUNNER).read_bytes()
    with pytest.raises(PrivmlError, match="entry script"):
        packaging.make_bundle(tmp_path / "missing.py", tmp_path / "b2", wheel, None)
    with pytest.raises(PrivmlError, match=r"code\.wheelhouse"):
        packaging.make_bundle(script, tmp_path / "b3", wheel, tmp_path / "nowhere")
