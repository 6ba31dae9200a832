"""notebooks/walkthrough.ipynb: committed without outputs, and runs top to bottom in a fresh kernel.

The kernel is this interpreter (`sys.executable`), whatever environment it lives in (/work/venv locally,
the repository's .venv in CI): a kernel spec pointing at it is written to a temporary Jupyter path, so no
installed `python3` kernel spec, and no other environment, can be picked up by accident.
"""

from __future__ import annotations

import json
import os
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

    cells = _code_cells(nb)
    for i, cell in cells:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"cell {i} raised {errors[0].ename}"
    text = "\n".join(_text(c) for _, c in cells)
    assert "Succeeded" in text  # the local pipeline run
    assert "'predictions'" in text  # the endpoint answered the boto3 client
    assert "skipped: needs an AWS account" in text
    # the kernel inherited this test's workspace (the notebook only sets one when none is set)
    assert any((Path(os.environ["PRIVML_WORKSPACE"]) / "runs").iterdir())
