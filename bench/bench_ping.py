"""`/ping` under attack-shaped load: does the event loop stay responsive while it scores and refuses?

Server: `python -m inference.server` (uvicorn, uvloop + httptools, TLS) with the training job's default
model, once as deployed (the compiled form scores one-row requests) and once with `--force-pipeline`
(every request takes the pipeline, in a worker process: the worst case of finding 3).

Load (a separate process, asyncio, keep-alive): 64 connections for 10 s, each cycling through good and
bad requests: signed one-row CSV to the runtime route and to `/invocations` (200), unsigned (403), a
forged signature (403), a signed but malformed body (400), and a head over the 16 kB cap on a fresh
connection (431, then closed). Meanwhile this process sends `GET /ping` on its own connection every
10 ms and times each answer.

Prints /ping p50 and p99, the load's requests and status classes, the server's RSS before and after and
that of its pipeline worker processes (inference/pipeline_pool.py), and the load average at the end.
Targets: /ping p99 ≤ 50 ms, zero 5xx, RSS growth ≤ 10% (the server's, and its workers').

    python bench/bench_ping.py [--duration 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # fitting the model on a shared box: threads only contend

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.server_process import Server  # noqa: E402 - after the path insert

TARGET_P99_MS = 50.0
TARGET_RSS_GROWTH = 0.10
KINDS = ("runtime", "container", "unsigned", "forged", "malformed", "runtime", "container", "big-head")


def _result(figure: str, value: float, unit: str, anchor: float, better: str) -> None:
    ratio = (anchor / value if value else float("inf")) if better == "lower" else (value / anchor if anchor else 0)
    print("RESULT " + json.dumps({"benchmark": "ping", "figure": figure, "value": round(value, 3), "unit": unit,
                                  "anchor": anchor, "ratio": round(ratio, 3)}), flush=True)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------------------------------
# the load process


def _request(kind: str, port: int, name: str, body: bytes, creds: tuple[str, str]) -> bytes:
    from inference.sigv4 import sign_headers

    path = f"/endpoints/{name}/invocations" if kind == "runtime" else "/invocations"
    payload = b"age,sex\n" + b"\xff" * 40 + b"\n" if kind == "malformed" else body
    headers = {"Content-Type": "text/csv"}
    if kind != "unsigned":
        secret = creds[1] if kind != "forged" else "f" * 40
        headers = sign_headers(method="POST", url=f"https://localhost:{port}{path}", body=payload, headers=headers,
                               access_key_id=creds[0], secret_access_key=secret)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    if kind == "big-head":
        head += "X-Pad: " + "p" * (20 * 1024) + "\r\n"
    return (f"POST {path} HTTP/1.1\r\nHost: localhost:{port}\r\n{head}Content-Length: {len(payload)}\r\n\r\n"
            .encode() + payload)


async def _read_status(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status of one response, and whether the server closes the connection after it."""
    status_line = await reader.readline()
    if not status_line:
        return 0, True
    status = int(status_line.split()[1])
    length, closing = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        lower = line.lower()
        if lower.startswith(b"content-length:"):
            length = int(line.split(b":")[1])
        elif lower.startswith(b"connection:") and b"close" in lower:
            closing = True
    await reader.readexactly(length)
    return status, closing


async def _load_worker(index: int, port: int, ca: str, name: str, body: bytes, creds: tuple[str, str],
                       stop_at: float, statuses: dict[str, int]) -> None:
    context = ssl.create_default_context(cafile=ca)
    turn = index
    reader = writer = None
    while time.perf_counter() < stop_at:
        kind = KINDS[turn % len(KINDS)]
        turn += 1
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                               server_hostname="localhost")
            assert reader is not None
            writer.write(_request(kind, port, name, body, creds))
            status, closing = await asyncio.wait_for(_read_status(reader), timeout=30)
            key = f"{status // 100}xx" if status else "closed"
            statuses[key] = statuses.get(key, 0) + 1
            if closing or not status:
                writer.close()
                writer = None
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, TimeoutError, OSError):
            statuses["closed"] = statuses.get("closed", 0) + 1
            if writer is not None:
                writer.close()
            writer = None
    if writer is not None:
        writer.close()


def load_main(argv: list[str]) -> int:
    port, ca, name, creds_id, creds_secret, body_file, connections, duration = argv
    body = Path(body_file).read_bytes()
    statuses: dict[str, int] = {}

    async def run() -> None:
        stop_at = time.perf_counter() + float(duration)
        await asyncio.gather(*(_load_worker(i, int(port), ca, name, body, (creds_id, creds_secret), stop_at,
                                            statuses) for i in range(int(connections))))

    asyncio.run(run())
    print(json.dumps(statuses), flush=True)
    return 0


# --------------------------------------------------------------------------------------------------
# the /ping prober and the driver


def probe_ping(port: int, ca: str, duration: float, every: float = 0.01) -> tuple[list[float], int]:
    """`GET /ping` every `every` s on one keep-alive connection; latencies in ms, and failures."""
    context = ssl.create_default_context(cafile=ca)
    latencies: list[float] = []
    failures = 0
    sock: Any = None
    stop_at = time.monotonic() + duration
    while time.monotonic() < stop_at:
        try:
            if sock is None:
                sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                                           server_hostname="localhost")
            started = time.perf_counter()
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError
                data += chunk
            latencies.append((time.perf_counter() - started) * 1000)
            if not data.startswith(b"HTTP/1.1 200"):
                failures += 1
        except (OSError, ConnectionError):
            failures += 1
            latencies.append(5000.0)  # a failed ping counts as the worst latency, not as no sample
            with contextlib.suppress(Exception):
                sock.close()
            sock = None
        time.sleep(every)
    with contextlib.suppress(Exception):
        sock.close()
    return latencies, failures


def measure(label: str, model_dir: Path, workspace: Path, body_file: Path, connections: int, duration: float,
            force_pipeline: bool) -> dict[str, Any]:
    from inference.credentials import load_or_create_credentials

    server = Server(workspace, model_dir, capture="none", extra=("--force-pipeline",) if force_pipeline else ())
    try:
        creds = load_or_create_credentials(workspace)
        # warm-up: a second of the same mixed load, so RSS "before" is the steady state, not the cold start
        warm = subprocess.run([sys.executable, __file__, "--load", str(server.port), server.ca, server.name,
                               creds.access_key_id, creds.secret_access_key, str(body_file), str(connections), "2"],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        if warm.returncode != 0:
            raise SystemExit(f"load client failed: {warm.stderr[-500:]}")
        rss_before = _rss_kib(server.proc.pid)
        workers_before = sum(_rss_kib(pid) for pid in server.children())
        load = subprocess.Popen([sys.executable, __file__, "--load", str(server.port), server.ca, server.name,
                                 creds.access_key_id, creds.secret_access_key, str(body_file), str(connections),
                                 str(duration)], cwd=REPO, stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)  # let the connections open
        latencies, failures = probe_ping(server.port, server.ca, duration - 1.0)
        out, _ = load.communicate(timeout=duration + 120)
        statuses = json.loads(out.strip().splitlines()[-1])
        rss_after = _rss_kib(server.proc.pid)
        workers_after = sum(_rss_kib(pid) for pid in server.children())
        load_average = os.getloadavg()
    finally:
        server.stop()
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"label": label, "p50": q[49], "p99": q[98], "pings": len(latencies), "ping_failures": failures,
            "statuses": statuses, "rss_before": rss_before, "rss_after": rss_after,
            "workers_before": workers_before, "workers_after": workers_after, "load_average": load_average}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        return load_main(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    from bench.bench_endpoint import build_model_dir
    from tests.inference.model_factory import raw_table

    with tempfile.TemporaryDirectory(prefix="privml-bench-ping-") as tmp:
        root = Path(tmp)
        workspace = root / "ws"
        workspace.mkdir(mode=0o700)
        os.environ["PRIVML_WORKSPACE"] = str(workspace)
        print("fitting the benchmark model …", file=sys.stderr, flush=True)
        model_dir = build_model_dir(root)
        body_file = root / "one-row.csv"
        body_file.write_bytes(raw_table(50, seed=11).drop(columns=["readmitted"]).head(1).to_csv(index=False).encode())
        runs = [measure("as deployed", model_dir, workspace, body_file, args.connections, args.duration, False),
                measure("pipeline forced", model_dir, workspace, body_file, args.connections, args.duration, True)]
    print(f"\n/ping every 10 ms under {args.connections} connections of mixed good and bad requests, "
          f"{args.duration:g} s (HTTPS, loopback; the box's cores are shared with the load and other work)")
    print(f"{'server':<18}{'p50 ms':>9}{'p99 ms':>9}{'pings':>7}{'failed':>7}  {'load statuses':<44}"
          f"{'RSS before→after MiB':>22}{'pipeline workers MiB':>24}{'load avg':>18}")
    for run in runs:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(run["statuses"].items()))
        growth = run["rss_after"] / run["rss_before"] - 1 if run["rss_before"] else 0.0
        print(f"{run['label']:<18}{run['p50']:>9.1f}{run['p99']:>9.1f}{run['pings']:>7}{run['ping_failures']:>7}  "
              f"{statuses:<44}{run['rss_before'] / 1024:>10.0f}→{run['rss_after'] / 1024:.0f} ({growth:+.1%})"
              f"{run['workers_before'] / 1024:>14.0f}→{run['workers_after'] / 1024:.0f}"
              f"{'':>4}{' '.join(f'{x:.1f}' for x in run['load_average'])}")
        key = "deployed" if run["label"] == "as deployed" else "pipeline forced"
        _result(f"/ping p99, {key}", run["p99"], "ms", TARGET_P99_MS, "lower")
        _result(f"/ping p50, {key}", run["p50"], "ms", TARGET_P99_MS, "lower")
        _result(f"5xx under mixed load, {key}", float(run["statuses"].get("5xx", 0)), "responses", 0, "lower")
        _result(f"RSS growth, {key}", growth * 100, "%", TARGET_RSS_GROWTH * 100, "lower")
    met = all(r["p99"] <= TARGET_P99_MS and not r["statuses"].get("5xx") and r["ping_failures"] == 0
              and r["rss_after"] <= r["rss_before"] * (1 + TARGET_RSS_GROWTH)
              and r["workers_after"] <= r["workers_before"] * (1 + TARGET_RSS_GROWTH) for r in runs)
    print("\ntargets (p99 ≤ 50 ms, zero 5xx, no failed ping, RSS growth ≤ 10%):", "met" if met else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
