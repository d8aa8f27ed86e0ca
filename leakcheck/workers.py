"""What every worker process of leakcheck's pools does first."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Pool initializer: end this worker when the process that started the pool ends.

    A pool's workers wait on a pipe their own fork also holds open, so a scan killed outright (SIGKILL, a CI
    timeout) would leave them waiting forever. On Linux the kernel sends SIGTERM to the worker when its
    parent exits; if the parent is already gone (it died while this worker started), the worker leaves.
    (Linux sends it when the thread that forked the worker ends. leakcheck's pools are made and shut down
    within one call, in the thread that submits to them, so that thread outlives its workers.)
    """
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl to call: the pool still works, only without this guard
        return
    if os.getppid() != parent:
        os._exit(1)
