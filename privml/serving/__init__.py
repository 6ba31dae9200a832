"""Serving a fitted model: request payloads parsed into rows of the raw schema (`payloads.py`), and the
model's compiled form for scoring a few rows at a time (`compiled.py`), built from the technique cell
functions (`cells.py`), the anonymity routing (`anonymity.py`) and the feature encoder (`features.py`)."""

# Up to this many rows the compiled model beats the pipeline's vectorized path (bench_endpoint's
# in-process timings); it is also the most an endpoint's event loop scores in one go.
MAX_ROWS = 256
