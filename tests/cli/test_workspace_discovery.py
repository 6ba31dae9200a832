"""The workspace is found as git finds a repository: $PRIVML_WORKSPACE, else the nearest `.privml` here or
in a parent folder (not past a ceiling, a mount boundary or the root), else a new one here, said on stderr.
Commands that need keys never create an empty store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from privml.cli import main

POLICY = """\
version: 1
keys:
  tokens: alias/privml-tokens
columns:
  ssn: {role: identifier, action: tokenize, key: tokens}
  email: {role: identifier, action: encrypt, key: tokens}
  age: {role: feature, action: keep}
  readmitted: {role: label, action: keep}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with no workspace yet, searched as if it were at the top of the disk."""
    monkeypatch.delenv("PRIVML_WORKSPACE", raising=False)
    monkeypatch.setenv("PRIVML_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "project"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "policy.yaml").write_text(POLICY)
    monkeypatch.chdir(root)
    assert main(["sample-data", "--rows", "200", "--seed", "3", "-o", str(root / "patients.csv")]) == 0
    return root


def _anonymize(cwd: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    project = next(p for p in (cwd, *cwd.parents) if p.name == "project")
    monkeypatch.chdir(cwd)
    assert main(["anonymize", str(project / "patients.csv"), "--policy", str(project / "policy.yaml"),
                 "-o", str(out)]) == 0
    return pd.read_csv(out / "data.csv")


def test_tokens_made_in_a_folder_join_with_tokens_made_in_its_subfolder(
        project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    top = _anonymize(project, project / "out-top", monkeypatch)
    said_at_top = caplog.text
    caplog.clear()
    deep = _anonymize(project / "sub" / "deeper", project / "out-deep", monkeypatch)
    assert top["ssn"].tolist() == deep["ssn"].tolist()  # the same key: the tokens join
    assert not (project / "sub" / ".privml").exists() and not (project / "sub" / "deeper" / ".privml").exists()
    assert (project / ".privml").is_dir()
    assert f"created a new workspace {project / '.privml'}" in said_at_top  # said, where it was made
    assert "created a new workspace" not in caplog.text


def test_reidentify_from_a_subfolder_uses_the_workspace_above(
        project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _anonymize(project, project / "out", monkeypatch)
    monkeypatch.chdir(project / "sub")
    restored = project / "restored.csv"
    assert main(["reidentify", str(project / "out" / "data.csv"), "--transformer",
                 str(project / "out" / "transformer.skops"), "-o", str(restored)]) == 0
    original = pd.read_csv(project / "patients.csv")
    assert pd.read_csv(restored)["email"].tolist() == original["email"].tolist()
    assert not (project / "sub" / ".privml").exists()


@pytest.mark.parametrize("command", [
    ["reidentify", "data.csv", "--transformer", "t.skops", "-o", "r.csv"],
    ["keys", "list"],
    ["get", "s3://privml-local/runs/x/report.html"],
    ["ls", "s3://privml-local/"],
    ["decrypt", "in.enc", "out.txt"],
    ["runs", "list"],
    ["capture", "read"],
])
def test_commands_that_need_keys_never_create_a_workspace(
        command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PRIVML_WORKSPACE", raising=False)
    monkeypatch.setenv("PRIVML_CEILING_DIRECTORIES", str(tmp_path))
    here = tmp_path / "empty" / "folder"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "no privml workspace found (searched" in err and str(here) in err
    assert not list(tmp_path.rglob(".privml")) and not list(tmp_path.rglob("keystore.json"))


def test_environment_variable_wins_and_is_never_created_by_a_reader(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from privml.workspace import find_workspace

    monkeypatch.delenv("PRIVML_WORKSPACE", raising=False)
    monkeypatch.setenv("PRIVML_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "a" / ".privml").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a")
    assert find_workspace() == (tmp_path / "a" / ".privml").resolve()
    monkeypatch.setenv("PRIVML_WORKSPACE", str(tmp_path / "elsewhere"))
    assert find_workspace() == (tmp_path / "elsewhere").resolve()
    assert main(["keys", "list"]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "elsewhere").exists()
    assert main(["keys", "create", "--alias", "made"]) == 0  # a command that makes keys creates it
    assert main(["keys", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].startswith("KEY ID") and "alias/made" in out


def test_search_stops_at_a_ceiling_and_at_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from privml.workspace import find_workspace, search_path

    monkeypatch.delenv("PRIVML_WORKSPACE", raising=False)
    (tmp_path / ".privml").mkdir()
    inner = tmp_path / "x" / "y"
    inner.mkdir(parents=True)
    monkeypatch.setenv("PRIVML_CEILING_DIRECTORIES", str(tmp_path))
    assert search_path(inner) == [inner.resolve(), (tmp_path / "x").resolve()]
    assert find_workspace(inner) is None  # the .privml above the ceiling is not seen
    monkeypatch.setenv("PRIVML_CEILING_DIRECTORIES", "")
    assert find_workspace(inner) == (tmp_path / ".privml").resolve()
    assert search_path(Path("/"))[-1] == Path("/")
