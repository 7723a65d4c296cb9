"""Die with the parent: the kernel sends SIGKILL when the process that started us ends.

``PR_SET_PDEATHSIG`` belongs to the process, not to its session, so Cosmos's ``setsid`` does not matter,
and it survives ``exec``: set here, it holds for dbt. The signal comes when the *thread* that started us
ends; Cosmos starts dbt from the task's main thread, which ends only with the task process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h


class ParentGone(RuntimeError):
    """The task process ended before dbt could be tied to it."""


def die_with_parent(parent: int) -> bool:
    """Be killed when ``parent`` (our parent's pid, read first thing) dies. False where the kernel has
    no such request (not Linux): then nothing ties dbt to its task."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    # A parent that died before the request above would never signal: we were reparented already.
    if os.getppid() != parent or parent == 1:
        raise ParentGone(f"the task process (pid {parent}) ended before dbt started; dbt does not run")
    return True
