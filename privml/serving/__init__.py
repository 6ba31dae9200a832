"""Serving a fitted model: request payloads parsed into rows of the raw schema (`payloads.py`), and the
model's compiled form for scoring a few rows at a time (`compiled.py`), assembled from the row forms
the fitted components own (`privml.rowform`; request values become cells in `cells.py`)."""

# Up to this many rows the compiled model beats the pipeline's vectorized path (bench_endpoint's
# in-process timings); it is also the most an endpoint's event loop scores in one go.
MAX_ROWS = 256
