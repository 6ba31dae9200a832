"""`privml runs list|show` over records the executor wrote, and `privml run` usage errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Defs, definition

from pipelines.local.executor import LocalExecutor
from pipelines.local.records import read_record
from privml.cli import main


def test_runs_list_and_show(defs: Defs, store: Any, kms: Any, workspace: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    ok = LocalExecutor(definition([Defs.processing("Ok", defs.code("ok", "print('fine')"), "ok.py")]),
                       store=store, kms=kms, workspace=workspace).run()
    bad = LocalExecutor(definition([Defs.processing("Bad", defs.code("bad", "raise SystemExit(4)"), "bad.py")]),
                        store=store, kms=kms, workspace=workspace).run()
    capsys.readouterr()
    assert main(["runs", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["run_id"], r["status"]) for r in listed] == [(ok["run_id"], "Succeeded"), (bad["run_id"], "Failed")]
    assert main(["runs", "show", bad["run_id"]]) == 0
    out = capsys.readouterr().out
    assert f"run {bad['run_id']}: Failed" in out and "Bad.network_isolation: " in out
    assert main(["runs", "show", bad["run_id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == read_record(workspace, bad["run_id"])
    assert main(["runs", "show", "20990101-000000-abcdef"]) == 2
    assert "no run 20990101-000000-abcdef" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["run"], "one of the arguments --local --aws is required"),
    (["run", "--local", "--aws"], "not allowed with argument"),
    (["run", "--aws"], "run --aws needs --config"),
    (["run", "--local", "--rows", "10"], "--rows must be at least 50"),
    (["run", "--local", "--param", "K"], "expected NAME=VALUE"),
    (["run", "--local", "--waive", "NOT-A-RULE"], "unknown rule id"),
    (["run", "--local", "--data", "/nonexistent/x.csv"], "data file not found"),
])
def test_run_usage_errors_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:  # argparse errors exit directly
        code = main(argv)
        raise SystemExit(code)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_run_aws_dispatches_to_run_on_aws_with_waivers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, Any] = {}

    def fake_run_on_aws(config: Any, *, waivers: Any = (), parameters: Any = None) -> dict[str, Any]:
        seen["config"], seen["waivers"], seen["parameters"] = config, list(waivers), parameters
        return {"execution_arn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/x"}

    sentinel = object()
    monkeypatch.setattr("pipelines.aws.run_on_aws", fake_run_on_aws)
    monkeypatch.setattr("pipelines.config.PipelineConfig.load", classmethod(lambda cls, path: sentinel))
    config = tmp_path / "c.yaml"
    config.write_text("region: us-east-1\n")
    assert main(["run", "--aws", "--config", str(config), "--waive", "R1", "--param", "K=7", "--json"]) == 0
    assert seen == {"config": sentinel, "waivers": ["R1"], "parameters": {"K": "7"}}
    assert json.loads(capsys.readouterr().out)["execution_arn"].endswith("/execution/x")
