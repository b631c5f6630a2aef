"""Start the detached flusher, and tell whether one is running.

The flusher is ``python -S -m iconiq.telemetry.flusher <spool path>`` (``-S`` on
POSIX, see ``flusher_argv``): a new
session, stdin/stdout/stderr on /dev/null, no other file descriptor, nothing
else on its command line, working directory ``/``, and an environment without
OpenAI credentials. On POSIX, ``os.posix_spawn`` starts ``/bin/sh`` in a new
session, which starts the flusher in the background and exits at once: the
command's process waits only for that short-lived shell, and the flusher is
re-parented to init, so no zombie is left behind even when the caller lives on
(tests, long-running hosts, threaded ones too). ``posix_spawn`` does not copy
the caller: the double fork it replaces made a command's process take about
2,900 more page faults (copy-on-write after ``fork``) and ~5 ms more CPU
(docs/telemetry.md). Without ``/bin/sh`` or ``posix_spawn``, the double fork is
still there (``subprocess.Popen(start_new_session=True)`` in a host with threads
running, where forking is unsafe); Windows gets a detached Popen.

The flusher's lock is an ``flock`` on ``<spool>.lock`` (what ``filelock`` takes
on POSIX), released by the kernel when the process dies. ``acquire_lock`` takes
it with ``fcntl`` directly on POSIX: importing filelock costs a flusher about
40-60 ms of CPU here (it loads ``asyncio``) for a dozen lines of work; other
platforms use filelock.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# ``typing.TYPE_CHECKING`` without importing typing (~4 ms of CPU for a host that
# records an event); mypy treats a name ``TYPE_CHECKING`` the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class Lock(Protocol):
        def release(self) -> None: ...


# Never handed to the flusher: it needs none of them.
_SCRUBBED_ENV_PREFIXES = ("OPENAI_", "AZURE_OPENAI_")


def lock_path(spool_path: Path) -> Path:
    return spool_path.with_name(spool_path.name + ".lock")


class _Flock:
    """An ``flock`` held on an open file descriptor (the kernel drops it at exit)."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = None


def acquire_lock(spool_path: Path, timeout: float) -> Lock | None:
    """The flusher lock of this spool, or None when another process holds it past ``timeout``."""
    try:
        import fcntl  # noqa: F401 - only to know whether there is flock
    except ImportError:
        return _acquire_filelock(spool_path, timeout)
    from iconiq.telemetry.locks import flock_until

    fd = os.open(lock_path(spool_path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        held = flock_until(fd, exclusive=True, deadline=time.monotonic() + timeout, poll=0.05)
    except BaseException:
        os.close(fd)
        raise
    if not held:
        os.close(fd)
        return None
    return _Flock(fd)


def _acquire_filelock(spool_path: Path, timeout: float) -> Lock | None:
    from filelock import FileLock, Timeout

    lock = FileLock(
        lock_path(spool_path),
        timeout=timeout,
        mode=0o600,
        preserve_lock_file=True,
        fallback_to_soft=False,
        thread_local=False,
    )
    try:
        lock.acquire()
    except Timeout:
        return None
    return lock


def flusher_running(spool_path: Path) -> bool:
    """True when some process holds the flusher lock of this spool."""
    try:
        import fcntl
    except ImportError:  # Windows: filelock uses msvcrt; rely on the flusher's own lock
        return False
    try:
        fd = os.open(lock_path(spool_path), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _package_root() -> str | None:
    """The folder holding the ``iconiq`` package, when the flusher can start without
    ``site`` (POSIX: it needs only the standard library and iconiq there), else None."""
    if os.name != "posix":
        return None  # elsewhere the data dir comes from platformdirs, found through site
    import iconiq

    root = os.path.dirname(os.path.dirname(os.path.abspath(iconiq.__file__)))
    return root if os.path.isdir(os.path.join(root, "iconiq")) else None


def flusher_argv(spool_path: Path) -> list[str]:
    """``python -S -m iconiq.telemetry.flusher <spool>``: ``-S`` skips ``site`` (and the
    ``.pth`` files it runs: an editable install's finder alone costs ~20 ms of CPU), the
    package's folder comes first on ``PYTHONPATH`` instead (``flusher_env``)."""
    flags = ["-S"] if _package_root() else []
    return [sys.executable, *flags, "-m", "iconiq.telemetry.flusher", str(spool_path)]


def flusher_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_ENV_PREFIXES)}
    if env.get("ICONIQ_HOME", "").strip():  # the flusher runs from /, keep the home absolute
        env["ICONIQ_HOME"] = str(Path(env["ICONIQ_HOME"].strip()).expanduser().absolute())
    root = _package_root()
    if root:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (root, env.get("PYTHONPATH"))))
    return env


def spawn_flusher(spool_path: Path, delay_ms: int = 0) -> None:
    """Start a detached flusher for this spool and return at once.

    With ``delay_ms``, the flusher sleeps that long before it uploads (a scheduled
    upload, see ``iconiq.telemetry.due``); it learns it from its environment.
    """
    from iconiq.telemetry.due import DELAY_ENV

    argv = flusher_argv(spool_path.expanduser().absolute())
    env = flusher_env()
    env.pop(DELAY_ENV, None)
    if delay_ms > 0:
        env[DELAY_ENV] = str(int(delay_ms))
    if os.name == "posix" and _spawn_sh(argv, env):
        return
    if os.name != "posix" or not hasattr(os, "fork") or _threads_running():
        _spawn_popen(argv, env)  # fork() in a threaded host risks the child's locks
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # nothing buffered may be written twice by a child
        except Exception:  # noqa: BLE001
            pass
    pid = os.fork()
    if pid == 0:  # middle child: new session, fork the flusher, vanish
        try:
            os.setsid()
            if os.fork() == 0:
                _exec_flusher(argv, env)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


SH = "/bin/sh"
# Run by ``sh -c`` with the flusher's argv as "$0" "$@" (never parsed by the shell):
# the flusher starts in the background, in ``/``, and sh exits at once.
_SH_SCRIPT = 'cd / && exec "$0" "$@" &'


def _spawn_sh(argv: list[str], env: dict[str, str]) -> bool:
    """Start the flusher through a short-lived ``/bin/sh`` (``posix_spawn``, new session,
    stdio on /dev/null, no inherited descriptor) and reap that shell; False when this
    platform cannot (the caller falls back to a fork)."""
    if not hasattr(os, "posix_spawn") or not os.access(SH, os.X_OK):
        return False
    actions: list[tuple[object, ...]] = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()]
    try:
        pid = os.posix_spawn(
            SH, ["sh", "-c", _SH_SCRIPT, *argv], env, file_actions=actions, setsid=True
        )
    except (OSError, NotImplementedError):
        return False
    try:
        os.waitpid(pid, 0)  # the shell exits as soon as the flusher started
    except ChildProcessError:
        pass  # a host that ignores SIGCHLD: the kernel reaped it
    return True


def _inheritable_fds() -> list[int]:
    """Descriptors above 2 a child would inherit (Python opens none such itself; a
    host may have): closed in the shell, as the fork path's ``closerange`` does."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return []
    found = []
    for fd in fds:
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    found.append(fd)
            except OSError:
                pass  # the descriptor listdir itself used, closed by now
    return found


def _threads_running() -> bool:
    threading = sys.modules.get("threading")
    return threading is not None and threading.active_count() > 1


def _exec_flusher(argv: list[str], env: dict[str, str]) -> None:
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 4096)
        os.chdir("/")
        os.execve(argv[0], argv, env)
    finally:
        os._exit(127)


def _spawn_popen(argv: list[str], env: dict[str, str]) -> None:
    import subprocess

    flags = getattr(subprocess, "DETACHED_PROCESS", 0) | getattr(
        subprocess, "CREATE_NEW_PROCESS_GROUP", 0
    )
    subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        env=env,
        creationflags=flags,
        start_new_session=os.name == "posix",
    )
