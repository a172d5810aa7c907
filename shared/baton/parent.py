"""A supervised process ends with its supervisor.

The demo (and the benchmarks) run each service as a child process. When the supervisor
stops normally it stops them in order; when it is killed outright (``kill -9``, a closed
terminal) nothing would, and the services would run on unsupervised, holding ports and
consumer group memberships. So a service started with ``BATON_SUPERVISOR_PID`` asks the
kernel for SIGTERM when its parent dies (Linux ``PR_SET_PDEATHSIG``), or elsewhere checks
once a second that its parent is still the supervisor. SIGTERM is the graceful stop: work
in hand is committed or left to come again.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

__all__ = ["stop_with_parent"]

_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 1.0


def stop_with_parent(parent_pid: int, *, signum: int = signal.SIGTERM) -> None:
    """Send ``signum`` to this process once ``parent_pid``, its parent, is gone.

    Args:
        parent_pid: The supervisor's process id (``BATON_SUPERVISOR_PID``).
        signum: The signal to receive; SIGTERM stops a service gracefully.
    """
    if not _kernel_notice(signum):
        threading.Thread(
            target=_watch, args=(parent_pid, signum), name="baton-parent-watch", daemon=True
        ).start()
    if os.getppid() != parent_pid:  # gone before we asked: nobody would tell us
        os.kill(os.getpid(), signum)


def _kernel_notice(signum: int) -> bool:
    """Ask Linux to send ``signum`` when the parent exits; False where that is not had."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int, signum: int) -> None:
    stop = threading.Event()
    while not stop.wait(_POLL_SECONDS):
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signum)
            return
