"""`privml serve`, `credentials`, `capture read`, `invoke` (`deploy --aws` is pipelines/deploy_cli.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from privml.cli.output import add_json_flag, emit_json
from privml.errors import PrivmlError

DEFAULT_PORT = 8443
LOCAL_REGION = "local"  # the local endpoint accepts any region in the signature scope


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("serve", help="serve a model on a local HTTPS endpoint (SageMaker runtime API)")
    p.add_argument("model", metavar="MODEL", help="model dir, model.tar.gz, or s3:// URI of a run's model artifact")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    p.add_argument("--name", default="privml", help="endpoint name (default privml)")
    p.add_argument("--capture", default="Output", metavar="MODES",
                   help="data capture: Output (default), Input, Input,Output or none")
    p.add_argument("--sampling", type=int, default=100, help="capture sampling percentage (default 100)")
    p.add_argument("--cert", help="your TLS certificate chain (PEM) instead of the local CA's")
    p.add_argument("--key", help="the private key for --cert (PEM)")
    p.add_argument("--access-log", action="store_true", help="log one line per request (never bodies)")
    p.add_argument("--workers", type=int, default=1, help="server processes sharing the port (default 1)")
    p.set_defaults(func=_serve)

    p = subparsers.add_parser("credentials", help="write a privml-local AWS profile (privml's own files) and "
                              "print how to call the local endpoint with boto3, the SageMaker SDK v3 or the aws CLI")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--profile", default=None, metavar="NAME", help="profile name (default privml-local)")
    p.add_argument("--env", action="store_true",
                   help="print export lines instead (they override real AWS credentials in that shell)")
    add_json_flag(p)
    p.set_defaults(func=_credentials)

    capture = subparsers.add_parser("capture", help="endpoint data capture")
    capture_sub = capture.add_subparsers(dest="capture_command", metavar="COMMAND")
    capture.set_defaults(func=lambda args: _usage(capture))
    r = capture_sub.add_parser("read", help="decrypt captured records (key holders only) as JSON Lines")
    r.add_argument("files", nargs="*", type=Path, help="capture files (default: all of the endpoint's)")
    r.add_argument("--endpoint", default="privml")
    add_json_flag(r)
    r.set_defaults(func=_capture_read, needs_workspace="keys")


def register_invoke(subparsers: Any) -> None:
    """`privml invoke`: its own entry point so that `privml --help` keeps it after `deploy` (which
    pipelines/ registers: deployment is orchestration)."""
    p = subparsers.add_parser("invoke", help="call an endpoint (local by default, or --aws) with a data file")
    p.add_argument("endpoint", metavar="ENDPOINT", help="endpoint name")
    p.add_argument("--data", type=Path, required=True, help="CSV or JSON file with raw rows")
    p.add_argument("--content-type", help="default: from the file extension")
    p.add_argument("--accept", default=None, help="text/csv or application/json (default: the content type)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--aws", action="store_true", help="call the SageMaker endpoint in AWS")
    target.add_argument("--port", type=int, default=DEFAULT_PORT, help="local endpoint port")
    target.add_argument("--endpoint-url", help="local endpoint URL (https://localhost:PORT)")
    add_json_flag(p)
    p.set_defaults(func=_invoke)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _serve(args: argparse.Namespace) -> int:
    from inference.capture import CaptureConfig
    from inference.server import serve_forever

    if bool(args.cert) != bool(args.key):
        raise PrivmlError("--cert and --key go together")
    if not 0 <= args.port <= 65535:
        raise PrivmlError("--port must be between 0 and 65535")
    capture = CaptureConfig.from_options(args.capture, args.sampling)
    if str(args.model).startswith("s3://"):  # a run's model: in an existing workspace, never a new empty one
        from privml.workspace import require_workspace

        require_workspace()

    def announce(handle: Any) -> None:
        print(f"privml: serving {handle.name} at {handle.url}  (TLS CA bundle: {handle.ca_bundle})", file=sys.stderr)
        print(f"privml: SageMaker runtime API: POST {handle.invoke_url()}  (SigV4; see `privml credentials`)",
              file=sys.stderr)
        if capture.enabled and capture.capture_input:
            print("privml: warning: data capture records request bodies (raw personal data), encrypted",
                  file=sys.stderr)

    serve_forever(args.model, port=args.port, name=args.name, capture=capture, certfile=args.cert,
                  keyfile=args.key, access_log=args.access_log, announce=announce, workers=args.workers)
    return 0


def _credentials(args: argparse.Namespace) -> int:
    from inference.credentials import PROFILE_NAME, env_text, load_or_create_credentials, usage_text, write_profile
    from inference.tls import ensure_tls_material

    creds = load_or_create_credentials()
    ca = str(ensure_tls_material().ca_bundle)
    url = f"https://localhost:{args.port}"
    if args.env:
        print(env_text(creds, url=url, ca_bundle=ca, region=LOCAL_REGION))
        return 0
    files = write_profile(creds, url=url, ca_bundle=ca, region=LOCAL_REGION, name=args.profile or PROFILE_NAME)
    if args.json:
        emit_json({"aws_access_key_id": creds.access_key_id, "aws_secret_access_key": creds.secret_access_key,
                   "region": LOCAL_REGION, "endpoint_url": url, "ca_bundle": ca, "profile": files.name,
                   "config_file": str(files.config_file), "credentials_file": str(files.credentials_file)})
    else:
        print(usage_text(files, url=url, ca_bundle=ca))
    return 0


def _capture_read(args: argparse.Namespace) -> int:
    from inference.capture import capture_files, endpoint_of, read_capture_file

    files = list(args.files) or capture_files(args.endpoint)
    if not files:
        raise PrivmlError(f"no capture files for endpoint {args.endpoint!r}: they appear once `privml serve` has "
                          "answered a request, every few seconds and when it stops")
    records: list[Any] = []
    for path in files:
        if not path.is_file():
            raise PrivmlError(f"capture file not found: {path}")
        try:
            endpoint = endpoint_of(path)
        except ValueError:
            endpoint = args.endpoint
        for record in read_capture_file(path, endpoint=endpoint):
            if args.json:
                records.append(record)
            else:
                sys.stdout.write(json.dumps(record) + "\n")
    if args.json:  # one JSON document (an array) instead of JSON Lines
        emit_json(records)
    return 0


def _content_type(path: Path, explicit: str | None) -> str:
    if explicit:
        return explicit
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "text/csv"
    if suffix in (".json", ".jsonl"):
        return "application/json"
    raise PrivmlError(f"{path}: cannot tell the content type from the extension; pass --content-type")


def runtime_client(*, aws: bool, endpoint_url: str | None = None, port: int = DEFAULT_PORT) -> Any:
    """A boto3 sagemaker-runtime client for AWS, or for the local endpoint with the workspace's CA and
    credentials (environment credentials win, as boto3's chain would have them)."""
    import boto3

    if aws:
        return boto3.client("sagemaker-runtime")
    from inference.credentials import load_or_create_credentials
    from inference.tls import ensure_tls_material

    creds = load_or_create_credentials()
    key_id = os.environ.get("AWS_ACCESS_KEY_ID") or creds.access_key_id
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY") if os.environ.get("AWS_ACCESS_KEY_ID") else None
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=endpoint_url or f"https://localhost:{port}",
        verify=str(ensure_tls_material().ca_bundle),
        region_name=os.environ.get("AWS_DEFAULT_REGION") or LOCAL_REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret or creds.secret_access_key,
    )


def _invoke(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    if not args.data.is_file():
        raise PrivmlError(f"data file not found: {args.data}")
    content_type = _content_type(args.data, args.content_type)
    client = runtime_client(aws=args.aws, endpoint_url=args.endpoint_url, port=args.port)
    request = {"EndpointName": args.endpoint, "ContentType": content_type, "Body": args.data.read_bytes()}
    if args.accept:
        request["Accept"] = args.accept
    try:
        response = client.invoke_endpoint(**request)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise PrivmlError(f"endpoint refused the request: {err.get('Code')}: {err.get('Message')}") from None
    except BotoCoreError as exc:
        raise PrivmlError(f"cannot reach the endpoint ({type(exc).__name__}): is `privml serve MODEL` running "
                          f"on that port (--port, default {DEFAULT_PORT})?") from None
    body = response["Body"].read().decode("utf-8")
    if args.json:  # the predictions with what answered them, as one JSON document
        returned = response.get("ContentType") or ""
        emit_json({"endpoint": args.endpoint, "content_type": returned,
                   "predictions": _predictions(body, returned)})
        return 0
    sys.stdout.write(body)
    return 0


def _predictions(body: str, content_type: str) -> Any:
    """The endpoint's answer as JSON values: a JSON body as it is, CSV lines as numbers where they are."""
    if "json" in content_type:
        payload = json.loads(body)
        return payload.get("predictions", payload) if isinstance(payload, dict) else payload
    rows = [line.split(",") for line in body.splitlines() if line.strip()]
    return [[_number(cell) for cell in row] if len(row) > 1 else _number(row[0]) for row in rows]


def _number(text: str) -> Any:
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text
