"""CLI edges: --version, -v on either side of the subcommand, --json where a script needs it, figures
rounded for people (full precision in --json), a header on `keys list`, and `pipeline definition` saying
what it does at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from importlib.metadata import version
from pathlib import Path

import pytest

from privml.cli import main
from privml.cli.numbers import percent, sig3


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"privml {version('privml')}"


@pytest.mark.parametrize("argv", [["-v", "sample-data"], ["sample-data", "-v"], ["sample-data", "--verbose"],
                                  ["sample-data"]])
def test_verbose_before_or_after_the_subcommand(argv: list[str], tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    proc = subprocess.run([sys.executable, "-m", "privml", *argv, "--rows", "20", "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    said = f"privml: wrote 20 rows to {out}" in proc.stderr  # the INFO log line
    assert said == (len(argv) > 1), proc.stderr


def test_json_on_sample_data_and_reidentify(tmp_path: Path, capsys) -> None:
    table = tmp_path / "p.csv"
    assert main(["sample-data", "--rows", "50", "--seed", "2", "-o", str(table), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rows"] == 50 and "email" in data["columns"] and data["output"] == str(table)
    policy = tmp_path / "policy.yaml"
    policy.write_text("keys: {k: alias/cli-edges}\ncolumns:\n  email: {role: identifier, action: encrypt, key: k}\n"
                      "  age: {role: feature, action: keep}\n")
    assert main(["anonymize", str(table), "--policy", str(policy), "-o", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    assert main(["reidentify", str(tmp_path / "out" / "data.csv"), "--transformer",
                 str(tmp_path / "out" / "transformer.skops"), "-o", str(tmp_path / "back.csv"), "--json"]) == 0
    text = capsys.readouterr().out
    data = json.loads(text)
    assert data == {"output": str(tmp_path / "back.csv"), "rows": 50, "columns_reidentified": ["email"]}
    assert "@" not in text  # names and counts only, never a re-identified value


def test_figures_are_rounded_for_people_and_exact_in_json(tmp_path: Path, capsys) -> None:
    assert [sig3(0.04555577689243023), sig3(0.875), sig3(5), sig3(12345.6)] == ["0.0456", "0.875", "5", "12,346"]
    assert [percent(0.6465751607983555), percent(0.2), percent(1.0), percent(0.0004), percent(0.9996)] == \
        ["64.7%", "20%", "100%", "<0.1%", ">99.9%"]
    table = tmp_path / "p.csv"
    assert main(["sample-data", "--rows", "300", "--seed", "4", "-o", str(table)]) == 0
    capsys.readouterr()
    argv = ["risk", str(table), "--quasi", "age,sex", "--sensitive", "diagnosis"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert main([*argv, "--json"]) == 0
    exact = json.loads(capsys.readouterr().out)
    assert f"t = {sig3(exact['t'])}" in text and f"entropy l = {sig3(exact['l_entropy'])}" in text
    risk = exact["risk"]
    assert f"average {percent(risk['prosecutor_avg'])}" in text
    assert f": {percent(risk['records_above_threshold'])}" in text
    assert len(repr(exact["t"])) > len(sig3(exact["t"]))  # --json keeps full precision


def test_pipeline_definition_says_what_it_does_before_the_sdk_loads(tmp_path: Path) -> None:
    """The line comes before the SageMaker SDK's import (the slow part), checked by order, not by a clock:
    a `sagemaker` package that never finishes importing shadows the real one, and the line must still come.
    (How long the SDK takes is the bench's business, not a unit test's.)"""
    blocker = tmp_path / "shadow" / "sagemaker"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("import time\ntime.sleep(300)\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker.parent), *sys.path])}
    proc = subprocess.Popen([sys.executable, "-m", "privml", "pipeline", "definition", "-o", str(tmp_path / "d.json")],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stderr.readline()), daemon=True)
    reader.start()
    reader.join(timeout=120)  # generous: a loaded host's interpreter start, never the SDK (it never loads)
    proc.kill()
    proc.wait(timeout=60)
    assert lines, "no line before the SDK's import"
    assert "building the pipeline definition" in lines[0]
    assert not (tmp_path / "d.json").exists()
