"""Bootstrap of a local job's interpreter. Copied into the job directory and run as
`python -I -S -B boot.py`; it never imports privml or anything from the repository.

It installs the sandbox before the job's code runs:
- sys.path is exactly what the runner computed (the image's stdlib and site-packages, minus .pth
  processing so the editable install of privml is invisible, plus the wheels the job was shipped);
- an audit hook refuses opening or listing paths outside the job directory and the image, and writing
  anywhere but the job directory;
- under network isolation the same hook refuses name lookups and connections to non-loopback hosts.
The audit hook is an emulation, not a security boundary (ctypes can bypass it); network isolation is
also enforced by the kernel when the runner could start the job in its own network namespace.
"""

import ipaddress
import json
import os
import runpy
import socket
import sys

_CONFIG = json.loads(os.environ.pop("PRIVML_JOB_SANDBOX"))
_READ_ROOTS = tuple(os.path.realpath(p) for p in _CONFIG["read_roots"])
_WRITE_ROOTS = tuple(os.path.realpath(p) for p in _CONFIG["write_roots"])
_NETWORK_ISOLATION = bool(_CONFIG["network_isolation"])
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class SandboxViolation(PermissionError):
    pass


def _under(path, roots):
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _check_path(path, write):
    if isinstance(path, int) or path is None:
        return
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    real = os.path.realpath(os.fspath(path))
    if write:
        if not _under(real, _WRITE_ROOTS):
            raise SandboxViolation(f"privml job sandbox: writing outside the job directory is refused: {real}")
    elif not _under(real, _READ_ROOTS + _WRITE_ROOTS):
        raise SandboxViolation(
            f"privml job sandbox: reading a path the job was not shipped is refused: {real}"
        )


def _is_loopback(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse_network(host, port):
    raise SandboxViolation(
        f"network isolation: outbound connection to {host}:{port} refused "
        "(the pipeline definition sets EnableNetworkIsolation for this job)"
    )


def _hook(event, args):
    if event == "open":
        path, mode, flags = args
        write = bool(mode and any(c in str(mode) for c in "wax+")) or bool((flags or 0) & _WRITE_FLAGS)
        _check_path(path, write)
    elif event in ("os.listdir", "os.scandir"):
        _check_path(args[0] if args and args[0] not in (None, "") else ".", False)
    elif event in ("os.remove", "os.rename", "os.mkdir", "os.rmdir", "shutil.rmtree", "os.chmod"):
        _check_path(args[0], True)
    elif _NETWORK_ISOLATION:
        inet = event in ("socket.connect", "socket.sendto") and args[0].family in (socket.AF_INET, socket.AF_INET6)
        if inet and not _is_loopback(args[1][0]):
            _refuse_network(args[1][0], args[1][1])
        lookup = event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                           "socket.gethostbyaddr")
        if lookup and not _is_loopback(args[0]):
            _refuse_network(args[0], args[1] if event == "socket.getaddrinfo" else "-")


def _die_with_parent(child=False):
    """SIGKILL this job when the runner dies (set again here: namespace setup may have cleared it); a
    child interpreter of the job (a Spark Python worker) dies with the process that started it."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        return
    if not child and os.getppid() != _CONFIG["parent_pid"]:
        os._exit(137)  # the runner is already gone


def _loopback_up():
    """In a fresh network namespace only `lo` exists, and it is down; a container has it up."""
    try:
        import fcntl
        import struct

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            flags = 0x1 | 0x8 | 0x40  # IFF_UP | IFF_LOOPBACK | IFF_RUNNING
            fcntl.ioctl(s, 0x8914, struct.pack("16sH14s", b"lo", flags, b"\0" * 14))  # SIOCSIFFLAGS
    except OSError:
        pass


def _guard_connect():
    """Check the destination before the C code resolves a host name (which happens before the
    socket.connect audit event, so without this a name fails with a resolver error, not a clear one)."""
    for name in ("connect", "connect_ex"):
        original = getattr(socket.socket, name)

        def guarded(self, address, _original=original):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
                _refuse_network(address[0], address[1])
            return _original(self, address)

        setattr(socket.socket, name, guarded)


CHILD_SANDBOX_ENV = "PRIVML_JOB_CHILD_SANDBOX"  # the sandbox of the Python processes the job starts
BOOT_ENV = "PRIVML_JOB_BOOT"


def _child_module():
    """`boot.py -m MODULE ARGS`: a Python process the job itself starts (Spark's Python workers, through
    the interpreter privml.spark.session points PYSPARK_PYTHON at) runs MODULE in the job's sandbox."""
    _die_with_parent(child=True)
    if _NETWORK_ISOLATION:
        _guard_connect()
    sys.path[:] = list(_CONFIG["sys_path"])
    module, sys.argv = sys.argv[2], [sys.argv[2], *sys.argv[3:]]
    sys.addaudithook(_hook)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def main():
    if sys.argv[1:2] == ["-m"]:
        _child_module()
        return
    _die_with_parent()
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` dumps the job's stacks into its stderr log
    if _CONFIG.get("own_network_namespace"):
        _loopback_up()
    if _NETWORK_ISOLATION:
        _guard_connect()
    os.environ[CHILD_SANDBOX_ENV] = json.dumps(_CONFIG)
    os.environ[BOOT_ENV] = os.path.abspath(__file__)
    sys.path[:] = list(_CONFIG["sys_path"])
    script = _CONFIG["script"]
    sys.path.insert(0, os.path.dirname(script))
    sys.argv = [script, *_CONFIG["args"]]
    sys.addaudithook(_hook)
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
