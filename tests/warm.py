"""Warm starts for the commands the suite runs: each a real process, forked from one that has already imported
torch, Optuna and our modules, instead of a fresh interpreter that spends seconds importing them.

Most of the suite's CPU went into starting processes, mostly imports (torch, and torch._dynamo, which every
``torch.optim`` step loads; docs/development.md has the measurements).  The server (``python -m tests.warm
serve SOCKET``, one per pytest worker) imports them once and forks a child per request; the client
(``tests/warm_client.py``) stands in for ``python`` on a command line.  The child is the command: its pid is the
one it records and the one signals reach; the client ends as it ends, forwards the stop signals it gets, and its
death (even by SIGKILL) kills the child.  A command whose import-time environment differs from the server's (thread
counts, ``PYTHONPATH``...) runs cold, by ``exec``, as does anything but ``-m``, ``-c`` or a script (after an
optional ``-u``).  Before it forks, the server trains the tiny study once (``rehearse``), so first-use work is
not repeated by every command.  Tests about what a command imports or how fast it starts run plain processes.

Long because the server, the forked child and the suite's side are one mechanism, read together.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib
import io
import json
import os
import runpy
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
import types
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLIENT = Path(__file__).with_name("warm_client.py")
SOCKET_ENV = "MSNAS_WARM_SOCKET"
PID_FD_ENV = "MSNAS_WARM_PID_FD"
PRELOAD = ("torch", "torch._dynamo", "optuna", "scipy.ndimage", "PIL.Image", "nas.search.__main__", "nas.fidelity",
           "nas.train", "nas.verdict", "nas.report", "nas.export", "nas.analyze", "nas.evaluate", "nas.regions",
           "nas.cost", "nas.dashboard",
           # and what they load on first use (a search: Optuna's schema check, the cost counters, the photos)
           "alembic.command", "alembic.migration", "alembic.script", "mako.template", "fvcore.nn", "ptflops",
           "skimage.data", "imageio.v2", "pygments.lexers", "pygments.formatters", "multiprocessing.synchronize",
           "zoneinfo", "alembic.config", "optuna.storages._rdb.models", "sqlalchemy.orm", "sqlalchemy.dialects.sqlite",
           "skimage.io", "skimage.color", "skimage.exposure", "imageio.plugins.pillow", "tifffile")  # fmt: skip
# read as the interpreter or a library loads: a child whose value differs from the server's runs cold
IMPORT_TIME_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONPATH", "PYTHONHASHSEED",
                   "PYTHONWARNINGS", "PYTHONOPTIMIZE", "LD_PRELOAD", "LD_LIBRARY_PATH")  # fmt: skip
PR_SET_PDEATHSIG = 1
_replaced: list[Any] = []


class Become(Exception):
    """Raised in a forked child: it leaves the server's loop and becomes the command."""

    def __init__(self, body: dict[str, Any], fds: list[int]) -> None:
        self.body, self.fds = body, fds


# ---------------------------------------------------------------- the server


def preload() -> None:
    import nas

    os.environ.setdefault(nas.SPIN_COUNT_ENV, nas.OPENMP_SPIN_COUNT)  # as a command sets it before torch loads
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # one this environment lacks: a command that needs it says so itself
            importlib.import_module(name)
    import PIL.Image

    PIL.Image.init()  # the image plugins, which load on first use otherwise
    rehearse()


def rehearse() -> None:
    """One training of the tiny study in a throwaway folder, so that what a command does on first use (the photos
    decoded and degraded, kernels and their caches set up, lazily loaded modules, the first trace of the cost
    counters) is done once here instead of in every child.  Warnings it raises are not remembered as shown."""
    import optuna

    from nas.search.runner import SearchConfig, run_search

    folder = tempfile.mkdtemp(prefix="msnas-warm-rehearsal-")
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # its handler writes to the suite's stderr
    try:
        with (
            contextlib.redirect_stderr(io.StringIO()),
            contextlib.redirect_stdout(io.StringIO()),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            run_search(SearchConfig("tiny", storage=f"sqlite:///{folder}/study.db", n_trials=1, device="cpu"))
            count_every_tiny_architecture()
    finally:
        optuna.logging.set_verbosity(verbosity)
        shutil.rmtree(folder, ignore_errors=True)
    forget_tqdm_state()
    assert threading.active_count() == 1, [t.name for t in threading.enumerate()]  # a fork keeps only ours


def count_every_tiny_architecture() -> None:
    """The cost counts of the tiny space's architectures (five; a pure function, remembered by
    ``nas.measure.counting.measure``): nearly every command of the tests counts some of them again."""
    from nas.measure.counting import measure
    from studies import STUDIES

    for _, spec in STUDIES["tiny"].space.uniform_points():
        measure(spec)


def forget_tqdm_state() -> None:
    """What the rehearsal's progress bars left, undone, so each child makes its own as a fresh interpreter would:
    the monitor thread (a fork leaves it behind while tqdm counts on it) and the write lock, a multiprocessing
    lock that every child would share: one killed while writing a bar (the fault tests kill commands) left the
    lock held, and every later command of this server hung at its first bar."""
    from tqdm import tqdm
    from tqdm.std import TqdmDefaultWriteLock

    if tqdm.monitor is not None:
        tqdm.monitor.exit()
        tqdm.monitor = None
    for owner, name in ((tqdm, "_lock"), (TqdmDefaultWriteLock, "mp_lock")):  # tqdm makes each on first use
        if name in vars(owner):
            delattr(owner, name)


def receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """A request and the three standard streams it came with."""
    data, ancillary, _, _ = conn.recvmsg(1 << 16, socket.CMSG_SPACE(3 * 4))
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += list(memoryview(payload).cast("i"))
    size = int.from_bytes(data[:4], "big")
    while len(data) < 4 + size:
        more = conn.recv(1 << 16)
        if not more:
            raise ConnectionError("the client went away")
        data += more
    return json.loads(data[4 : 4 + size]), fds


def reap(children: dict[int, socket.socket], sel: selectors.BaseSelector) -> None:
    """Tell each client whose child ended how it ended."""
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.sendall(f"{status}\n".encode())
            sel.unregister(conn)
            conn.close()


def start(conn: socket.socket, children: dict[int, socket.socket], sel: selectors.BaseSelector,
          listener: socket.socket) -> None:  # fmt: skip
    try:
        body, fds = receive(conn)
    except (OSError, ValueError):
        conn.close()
        return
    pid = os.fork()
    if pid == 0:
        for other in [listener, *children.values(), conn]:
            other.close()
        sel.close()
        raise Become(body, fds)
    for fd in fds:
        os.close(fd)
    conn.sendall(f"{pid}\n".encode())
    children[pid] = conn
    sel.register(conn, selectors.EVENT_READ, pid)


def serve(path: str) -> None:
    """Fork a child per request until the suite's worker closes our stdin; kill what is left then."""
    preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "new")
    sel.register(sys.stdin, selectors.EVENT_READ, "suite")
    children: dict[int, socket.socket] = {}
    owner = os.getpid()
    print("ready", flush=True)
    try:
        while True:
            for key, _ in sel.select(timeout=0.02):
                if key.data == "suite" and not os.read(0, 1 << 10):
                    return
                if key.data == "new":
                    start(listener.accept()[0], children, sel, listener)
                elif isinstance(key.data, int) and not key.fileobj.recv(1 << 10):  # type: ignore[union-attr]
                    with contextlib.suppress(ProcessLookupError):  # its client died: so does the command
                        os.kill(key.data, signal.SIGKILL)
            reap(children, sel)
    finally:
        if os.getpid() == owner:
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------- the child


def take_streams(fds: list[int], unbuffered: bool) -> None:
    """The client's stdin, stdout and stderr as ours, buffered as the interpreter would buffer them (``-u`` or
    ``PYTHONUNBUFFERED`` in the command's environment: not at all)."""
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
        os.close(fd)
    for name, fd in (("stdin", 0), ("stdout", 1), ("stderr", 2)):
        old = getattr(sys, name)
        _replaced.append(old)  # kept: collected, it would close the fd that is now the client's stream
        raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
        buffered = raw if unbuffered and fd else (io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw))
        lines = fd == 2 or raw.isatty()
        stream = io.TextIOWrapper(buffered, encoding=old.encoding, errors=old.errors, line_buffering=lines,
                                  write_through=unbuffered and fd > 0)  # fmt: skip
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def settle(body: dict[str, Any]) -> None:
    """The client's session or process group, folder, environment and signal dispositions."""
    with contextlib.suppress(OSError):  # a group in another session cannot be joined: the child keeps ours
        if body["session"]:
            os.setsid()
        else:
            os.setpgid(0, body["group"])
    os.chdir(body["cwd"])
    os.environ.clear()
    os.environ.update(body["env"])
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in body["ignored"]:
        signal.signal(sig, signal.SIG_IGN)
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the server gone, nothing of it stays


def run_command(argv: list[str]) -> None:
    """What ``python ARGV`` runs, in this process."""
    if argv[0] == "-m":
        for name in (argv[1], f"{argv[1]}.__main__"):  # preloaded: runpy would warn that it ran a loaded module
            sys.modules.pop(name, None)
        sys.argv = ["-m", *argv[2:]]
        sys.path[0] = os.getcwd()
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    elif argv[0] == "-c":
        sys.argv = ["-c", *argv[2:]]
        sys.path[0] = ""
        main = types.ModuleType("__main__")
        sys.modules["__main__"] = main
        exec(compile(argv[1], "<string>", "exec"), main.__dict__)
    else:
        sys.argv = list(argv)
        sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
        runpy.run_path(argv[0], run_name="__main__")


def exit_code(stop: SystemExit) -> int:
    """The interpreter's exit status for ``sys.exit(code)`` (a message is printed, and is 1)."""
    if stop.code is None or isinstance(stop.code, int):
        return stop.code or 0
    print(stop.code, file=sys.stderr)
    return 1


def leave(code: int, sig: int | None = None) -> None:
    """End as the interpreter ends (threads joined, exit functions run, streams flushed), without tearing down
    every module the server loaded: that alone took 1.3 s a command, and nothing of a command depends on it."""
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if sig is not None:  # an interrupt nobody caught: the interpreter ends by it, as the shell expects
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(code)


def become(child: Become) -> None:
    server_env = dict(os.environ)
    take_streams(child.fds, unbuffered=bool(child.body["env"].get("PYTHONUNBUFFERED")))
    settle(child.body)
    if any(server_env.get(k) != os.environ.get(k) for k in IMPORT_TIME_ENV):
        os.execv(sys.executable, [sys.executable, *child.body["argv"]])
    try:
        run_command(child.body["argv"])
    except SystemExit as stop:
        leave(exit_code(stop))
    except KeyboardInterrupt:
        traceback.print_exc()
        leave(1, signal.SIGINT)
    except BaseException:
        traceback.print_exc()
        leave(1)
    leave(0)


def main() -> None:
    try:
        serve(sys.argv[2])
        return
    except Become as forked:
        child = forked
    become(child)  # outside the except block: the command's own errors have no context of ours


# ---------------------------------------------------------------- the suite's side


class Server:
    """One server per pytest worker, started on first use."""

    def __init__(self, folder: Path) -> None:
        self.path = str(folder / "warm.sock")
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=pythonpath())
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.warm", "serve", self.path], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line == b"ready\n", f"the warm server did not start: {line!r}"

    def env(self) -> dict[str, str]:
        return {SOCKET_ENV: self.path}


def pythonpath() -> str:
    """The project first, then the caller's own: what the server imports with, so a command given it runs warm."""
    return os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)


class Command:
    """A command run warm, used as a ``subprocess.Popen``: ``pid`` is the command's process (what it records,
    what ``kill`` and ``send_signal`` reach); its exit and pipes are the client's, which ends as the command did."""

    def __init__(self, server: Server, argv: list[str], env: dict[str, str] | None = None, **popen: Any) -> None:
        read, write = os.pipe()
        env = dict(os.environ if env is None else env, **server.env(), **{PID_FD_ENV: str(write)})
        self.client = subprocess.Popen([sys.executable, "-S", "-E", str(CLIENT), *argv], env=env, pass_fds=(write,),
                                       **popen)  # fmt: skip
        os.close(write)
        with os.fdopen(read, "rb") as told:
            reply = told.readline()
        if not reply:
            self.client.wait(timeout=30)
            raise RuntimeError(f"the command did not start (client exit {self.client.returncode})")
        self.pid = int(reply)
        self.args = argv
        self.stdin, self.stdout, self.stderr = self.client.stdin, self.client.stdout, self.client.stderr

    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[Any, Any]:
        return self.client.communicate(input, timeout)

    @property
    def returncode(self) -> int | None:
        return self.client.returncode

    def poll(self) -> int | None:
        return self.client.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.client.wait(timeout=timeout)

    def send_signal(self, sig: int) -> None:
        if self.client.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


_shared: list[Server] = []


def shared() -> Server:
    """This process's server, started on first use; it ends with this process (its stdin closes)."""
    if not _shared:
        _shared.append(Server(Path(tempfile.mkdtemp(prefix="msnas-warm-"))))
    return _shared[0]


def popen(argv: list[str], **popen: Any) -> Command:
    """``subprocess.Popen(argv, ...)`` for ``argv = [sys.executable, ...]``, run warm by this process's server."""
    assert argv[0] == sys.executable, argv
    return Command(shared(), argv[1:], **popen)


def shim_python(path: Path, server: Server) -> Path:
    """An executable file at ``path`` that runs ``python ARGS`` warm on ``server``: for a program that starts
    Python by a path it is given (torchrun's ``PYTHON_EXEC``, a virtual environment's ``bin/python``)."""
    path.write_text(f'#!/bin/sh\n{SOCKET_ENV}="{server.path}" exec "{sys.executable}" -S -E "{CLIENT}" "$@"\n')
    path.chmod(0o755)
    return path


def shim_venv(folder: Path, server: Server) -> Path:
    """A virtual environment folder whose ``bin/python`` starts commands warm, as does ``bin/torchrun`` with its
    ranks (everything else links to ours)."""
    venv = folder / "warm-venv"
    (venv / "bin").mkdir(parents=True)
    for entry in Path(sys.prefix).iterdir():
        if entry.name != "bin":
            (venv / entry.name).symlink_to(entry)
    for entry in (Path(sys.prefix) / "bin").iterdir():
        if entry.name.startswith("python"):
            shim_python(venv / "bin" / entry.name, server)
        elif entry.name != "torchrun":
            (venv / "bin" / entry.name).symlink_to(entry)
    python = venv / "bin" / "python"
    torchrun = venv / "bin" / "torchrun"
    torchrun.write_text(f'#!/bin/sh\nPYTHON_EXEC="{python}" exec "{python}" -m torch.distributed.run "$@"\n')
    torchrun.chmod(0o755)
    return venv


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    main()
