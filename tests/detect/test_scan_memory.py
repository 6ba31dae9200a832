"""`scan` holds memory bounded by its sample whatever the file (issue 16): a file of a few hundred MB
and a single 300 MB line, each scanned by the command in a subprocess whose peak RSS is measured."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from privml.sampledata import generate


def _scan(path: Path) -> tuple[subprocess.CompletedProcess, float, float]:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "privml", "scan", str(path), "--json"], capture_output=True,
                          timeout=300, check=False)
    return done, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


@pytest.mark.slow
def test_scan_of_a_large_file_stays_within_its_sample(tmp_path):
    block = generate(20_000, seed=0).to_csv(index=False).encode()
    header, _, rest = block.partition(b"\n")
    path = tmp_path / "big.csv"
    with open(path, "wb") as fh:
        fh.write(header + b"\n")
        while fh.tell() < 400 << 20:
            fh.write(rest)
    done, seconds, peak_mb = _scan(path)
    assert done.returncode == 0, done.stderr[-300:]
    print(f"\nscan of {path.stat().st_size >> 20} MB: {seconds:.1f} s, peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 1024


@pytest.mark.slow
def test_one_huge_line_is_refused_quickly_naming_it(tmp_path):
    path = tmp_path / "line.csv"
    with open(path, "wb") as fh:
        fh.write(b"a,b\n1,2\n1,")
        chunk = b"x" * (1 << 20)
        for _ in range(300):
            fh.write(chunk)
        fh.write(b"\n1,2\n")
    done, seconds, peak_mb = _scan(path)
    assert done.returncode == 2 and b"line 3 is longer than the 1.0 MB limit" in done.stderr
    assert seconds < 30 and peak_mb < 1024
