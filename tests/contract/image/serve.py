"""`serve` as the image runs it: sagemaker-containers' own `_server.start` (the program's copy and pip
step, then gunicorn with the framework module), except that gunicorn binds 127.0.0.1, not 0.0.0.0:
tests listen on loopback only. nginx is off (SAGEMAKER_USE_NGINX=false, a setting the toolkit reads)."""

import logging
import os
import subprocess

# the image's `serve` is sagemaker_sklearn_container.serving:serving_entrypoint, whose module configures
# logging this way at import
logging.basicConfig(format="%(asctime)s %(levelname)s - %(name)s - %(message)s", level=logging.INFO)

from sagemaker_containers import _server  # noqa: E402
from sagemaker_containers.beta.framework import env  # noqa: E402

_popen = subprocess.Popen


def _on_loopback(cmd, *args, **kwargs):
    if cmd and cmd[0] == "gunicorn":
        cmd = list(cmd)
        cmd[cmd.index("-b") + 1] = "127.0.0.1:" + os.environ["SAGEMAKER_BIND_TO_PORT"]
    return _popen(cmd, *args, **kwargs)


subprocess.Popen = _on_loopback
_server.start(env.ServingEnv().framework_module)
