"""`serve` as the image runs it: sagemaker-containers' own `_server.start` (the program's copy and pip
step, then gunicorn with the framework module), except that gunicorn binds 127.0.0.1, not 0.0.0.0:
tests listen on loopback only. nginx is off (SAGEMAKER_USE_NGINX=false, a setting the toolkit reads)."""

import os
import subprocess

from sagemaker_containers import _server
from sagemaker_containers.beta.framework import env

_popen = subprocess.Popen


def _on_loopback(cmd, *args, **kwargs):
    if cmd and cmd[0] == "gunicorn":
        cmd = list(cmd)
        cmd[cmd.index("-b") + 1] = "127.0.0.1:" + os.environ["SAGEMAKER_BIND_TO_PORT"]
    return _popen(cmd, *args, **kwargs)


subprocess.Popen = _on_loopback
_server.start(env.ServingEnv().framework_module)
