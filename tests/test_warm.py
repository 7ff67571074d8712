"""The warm starts the suite's commands use (``tests/warm.py``) behave as the plain interpreter would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests import warm

CODE = "import os, sys; print(os.getpid(), os.getcwd(), os.environ.get('WARM_PROBE'), sys.argv[1:]); sys.exit(3)"


def test_a_command_runs_in_its_own_process_folder_and_environment_and_exits_as_it_says(tmp_path: Path) -> None:
    env = dict(os.environ, WARM_PROBE="seen", PYTHONPATH=warm.pythonpath(), OMP_NUM_THREADS="1")
    proc = warm.popen([sys.executable, "-c", CODE, "a", "b"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert out.split() == [str(proc.pid), str(tmp_path), "seen", "['a',", "'b']"]


def test_a_module_runs_as_main_with_its_arguments_and_errors_as_the_interpreter_prints_them() -> None:
    env = dict(os.environ, PYTHONPATH=warm.pythonpath(), OMP_NUM_THREADS="1")
    proc = warm.popen([sys.executable, "-m", "nas.cost", "--no-such-flag"], env=env, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and err.splitlines()[-1].endswith("unrecognized arguments: --no-such-flag"), err
    proc = warm.popen([sys.executable, "-c", "raise ValueError('boom')"], env=env, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and err.splitlines()[-1] == "ValueError: boom", err


def test_signals_reach_the_command_and_killing_the_client_kills_it() -> None:
    env = dict(os.environ, PYTHONPATH=warm.pythonpath(), OMP_NUM_THREADS="1")
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    proc = warm.popen(sleeper, env=env)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    proc = warm.popen(sleeper, env=env)
    proc.client.kill()  # the stand-in for python dies: the command with it
    proc.client.wait(timeout=30)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{proc.pid}").exists() and "Z" not in Path(f"/proc/{proc.pid}/stat").read_text().split()[2]:
        assert time.monotonic() < deadline, "the command outlived its client"
        time.sleep(0.05)


def test_another_import_time_environment_runs_cold() -> None:
    env = dict(os.environ, PYTHONPATH=warm.pythonpath(), OMP_NUM_THREADS="2")
    code = "import sys; print('torch' in sys.modules)"
    proc = warm.popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.communicate(timeout=60)[0].strip() == "False"  # a fresh interpreter: nothing preloaded
    env["OMP_NUM_THREADS"] = "1"
    proc = warm.popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.communicate(timeout=60)[0].strip() == "True"


def test_the_servers_rehearsal_leaves_a_command_what_a_fresh_interpreter_would_print(tmp_path: Path) -> None:
    """The server trains the tiny study once before it forks (``rehearse``): a warning that training raised is
    printed again by a command that raises it, and the unbuffered flag torchrun gives its ranks is taken."""
    env = dict(os.environ, PYTHONPATH=warm.pythonpath(), OMP_NUM_THREADS="1")
    code = f"from nas.study.storage import storage_for; storage_for('sqlite:///{tmp_path}/s.db'); print('opened')"
    proc = warm.popen([sys.executable, "-u", "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                      text=True)  # fmt: skip
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out == "opened\n" and "ExperimentalWarning" in err, err


def test_a_command_killed_holding_the_progress_bar_lock_does_not_hang_the_next() -> None:
    """tqdm's write lock is a multiprocessing lock: had the server made it (its rehearsal trains with a bar), every
    child would share it, and one killed while writing a bar would hang every later command at its first bar."""
    env = dict(os.environ, PYTHONPATH=warm.pythonpath(), OMP_NUM_THREADS="1")
    dies = "import os, signal; from tqdm import tqdm; tqdm.get_lock().acquire(); os.kill(os.getpid(), signal.SIGKILL)"
    assert warm.popen([sys.executable, "-c", dies], env=env).wait(timeout=60) == -signal.SIGKILL
    bar = "import sys; from tqdm import tqdm; [None for _ in tqdm(range(3), file=sys.stdout)]; print('done')"
    proc = warm.popen([sys.executable, "-c", bar], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.communicate(timeout=30)[0].splitlines()[-1] == "done"
