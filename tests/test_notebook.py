"""notebooks/walkthrough.ipynb: committed without outputs, and runs top to bottom in a fresh kernel.

The kernel is this interpreter (`sys.executable`), whatever environment it lives in (/work/venv locally,
the repository's .venv in CI): a kernel spec pointing at it is written to a temporary Jupyter path, so no
installed `python3` kernel spec, and no other environment, can be picked up by accident.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"
KERNEL = "privml-test-python3"


def _code_cells(nb: nbformat.NotebookNode) -> list[tuple[int, nbformat.NotebookNode]]:
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def test_committed_notebook_has_no_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    cells = _code_cells(nb)
    assert cells, "the walkthrough has no code cells"
    for i, cell in cells:
        assert cell.outputs == [], f"cell {i} has outputs: strip them before committing"
        assert cell.execution_count is None, f"cell {i} has an execution count: strip outputs before committing"


# What the notebook may import: the standard library, the libraries it demonstrates, and privml's public
# modules. Internal seams (privml.models.training.train_on_splits, inference.server.start_local_endpoint)
# are reached through the `privml` command line instead.
PUBLIC = ("privml.sampledata", "privml.detect", "privml.policy", "privml.io", "privml.transformer",
          "privml.crypto.objectstore", "pipelines.config")
THIRD_PARTY = ("pandas", "yaml", "IPython", "sklearn", "boto3", "botocore")


def test_notebook_uses_only_public_api() -> None:
    import ast

    nb = nbformat.read(NOTEBOOK, as_version=4)
    imported: set[str] = set()
    for _, cell in _code_cells(nb):
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    for name in imported:
        top = name.split(".")[0]
        if top in ("privml", "inference", "pipelines", "training", "processing"):
            assert name in PUBLIC, f"the notebook imports {name}, not public API"
        else:
            assert top in sys.stdlib_module_names or top in THIRD_PARTY, name
    source = "\n".join(c.source for _, c in _code_cells(nb))
    for internal in ("train_on_splits", "start_local_endpoint", "_anonymity_engine"):
        assert internal not in source


def _text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
    return "".join(parts)


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ipykernel.kernelspec import write_kernel_spec
    from nbclient import NotebookClient

    jupyter = tmp_path / "jupyter"
    write_kernel_spec(jupyter / "kernels" / KERNEL)  # argv: [sys.executable, -m, ipykernel_launcher, ...]
    spec = json.loads((jupyter / "kernels" / KERNEL / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("PRIVML_NOTEBOOK_ROWS", "1000")
    # gradient boosting's OpenMP threads spin against the other xdist worker on a 2-core runner
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # the default path: no AWS call, the account cells print that they were skipped
    for var in ("PRIVML_NOTEBOOK_AWS", "PRIVML_AWS_CONFIG", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    run_dir = tmp_path / "cwd"
    run_dir.mkdir()

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=600, allow_errors=False,
                            resources={"metadata": {"path": str(run_dir)}})
    client.execute()  # raises CellExecutionError on the first cell that fails
    nbformat.write(nb, tmp_path / "executed.ipynb")  # to read when an assertion below fails

    cells = _code_cells(nb)
    for i, cell in cells:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"cell {i} raised {errors[0].ename}"
    text = "\n".join(_text(c) for _, c in cells)
    html = "\n".join(o.data.get("text/html", "") for _, c in cells for o in c.outputs
                     if o.output_type in ("display_data", "execute_result"))
    assert "Succeeded" in text  # the local pipeline run
    # weak privacy is flagged with what to change in the policy (at least the splits below k)
    assert re.search(r"WARNING .+ \n   fix: .*`.+`", text)
    assert re.search(r"re-fitted on each fold: 0\.\d{3}, 0\.\d{3}, 0\.\d{3}", text)
    # the run's report, decrypted from the object store and displayed, with accuracy against privacy
    assert re.search(r"opened run-report\.html \([\d,]+ bytes\)", text)
    assert "Accuracy against privacy" in html and 'class="warning"' in html
    # the DP comparison: three models, and the gap at ε=1 in this run's own figures
    gap = re.search(r"gap at ε=1: ([+-]\d\.\d{3}) accuracy; always answering the commonest class scores (\d\.\d{3})",
                    text)
    assert gap, "the DP gap was not printed"
    assert re.search(r"without DP: 0\.\d{3}; with ε=10: 0\.\d{3}; with ε=1: 0\.\d{3}", text)
    assert "'predictions'" in text  # the endpoint (privml serve) answered the boto3 client
    assert re.search(r"[1-9]\d* captured record\(s\)", text)
    assert "skipped: needs an AWS account" in text
    # the kernel inherited this test's workspace (the notebook only sets one when none is set)
    assert any((Path(os.environ["PRIVML_WORKSPACE"]) / "runs").iterdir())
