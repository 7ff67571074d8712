"""The client of a warm start (``tests/warm.py``): a Python command line run as a child of the warm process.

Run as ``python -S -E tests/warm_client.py ARGS...`` in place of ``python ARGS...`` (``-S``: this file needs the
standard library only, and starts in milliseconds).  It hands its arguments, folder, environment and standard
streams to the warm server, forwards the stop signals it gets to the child, and ends as the child ended (the same
exit code, or killed by the same signal).  When there is no server, or the arguments are not ``-m MODULE``,
``-c CODE`` or a script, it becomes the plain interpreter (``exec``), so the command runs either way.
"""

import array
import contextlib
import json
import os
import signal
import socket
import sys

SOCKET_ENV = "MSNAS_WARM_SOCKET"  # the server's socket
PID_FD_ENV = "MSNAS_WARM_PID_FD"  # where to write the pid of the process that runs the command
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def tell_pid(pid: int) -> None:
    fd = os.environ.pop(PID_FD_ENV, None)
    if fd is not None:
        os.write(int(fd), f"{pid}\n".encode())
        os.close(int(fd))


def cold(argv: list[str]) -> None:
    """Become the interpreter itself, with the same arguments."""
    os.environ.pop(SOCKET_ENV, None)
    tell_pid(os.getpid())
    os.execv(sys.executable, [sys.executable, *argv])


def supported(argv: list[str]) -> bool:
    if argv[:1] in (["-m"], ["-c"]):
        return len(argv) >= 2
    return bool(argv) and not argv[0].startswith("-")


def request(argv: list[str]) -> bytes:
    env = {k: v for k, v in os.environ.items() if k not in (SOCKET_ENV, PID_FD_ENV)}
    ignored = [int(s) for s in (signal.SIGHUP, signal.SIGINT) if signal.getsignal(s) == signal.SIG_IGN]
    body = {"argv": argv, "cwd": os.getcwd(), "env": env, "ignored": ignored, "session": os.getsid(0) == os.getpid(),
            "group": os.getpgrp()}  # fmt: skip
    data = json.dumps(body).encode()
    return len(data).to_bytes(4, "big") + data


def forward(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended already: its status is on the way
        os.kill(pid, signum)


def end_as(status: int) -> None:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


def main() -> None:
    argv, path = sys.argv[1:], os.environ.get(SOCKET_ENV)
    if argv[:1] == ["-u"]:  # unbuffered streams, as torchrun starts its ranks: the child reads it from here
        os.environ["PYTHONUNBUFFERED"] = "1"
        argv = argv[1:]
    if not path or not supported(argv):
        return cold(argv)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        conn.sendmsg([request(argv)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
    except OSError:
        conn.close()
        cold(argv)
    replies = conn.makefile("rb")
    pid = int(replies.readline())
    for sig in FORWARDED:
        if signal.getsignal(sig) != signal.SIG_IGN:
            signal.signal(sig, lambda signum, _frame: forward(pid, signum))
    tell_pid(pid)
    line = replies.readline()
    if not line:  # the server went away: the child with it
        os._exit(255)
    end_as(int(line))


if __name__ == "__main__":
    main()
