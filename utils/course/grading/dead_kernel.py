"""A pytest plugin for the grader's nbval runs: a kernel that dies is reported at once, as dead.

nbval waits for a cell's reply for the whole cell timeout, even when the kernel process has
already ended (``os._exit(1)``, a crash, the out-of-memory killer), and then reports a timeout.
``utils.course.grading.runner`` runs nbval with this plugin
(``pytest -p utils.course.grading.dead_kernel``): the wait is cut into short polls, the kernel
process is checked between them, and a dead kernel fails its cell at once with nbclient's
``DeadKernelError``, whose message starts with `DIED`. The cells after it then fail at once with
nbval's own "Kernel dead on test start".
"""

from __future__ import annotations

import functools
import time
from queue import Empty

from nbclient.exceptions import DeadKernelError
from nbval import kernel as nbval_kernel

from utils.text import say, speaking

POLL_S = 0.5            # how often a waiting cell checks that its kernel is still alive
DIED = "the kernel died while this cell ran"  # i18n: not shown (the marker junit finds; died_message says it)


def died_message(code: int | None) -> str:
    """What the learner reads about the cell that ended its kernel (``code``: the exit code, if known), in the
    current language. pytest's process raises it in English (``DIED`` is how the grader finds it in the junit
    XML); ``utils.course.grading.junit`` says it again in the learner's language."""
    exit_code = "" if code is None else say(f" (exit code {code})", f" (código de salida {code})")
    return say(f"{DIED}{exit_code}: it ended the Python process (os._exit, a crash or running out of memory), "
               "so the cells after it could not run",
               f"el kernel murió mientras se ejecutaba esta celda{exit_code}: terminó el proceso de Python "
               "(os._exit, un fallo o falta de memoria), así que las celdas siguientes no pudieron ejecutarse")


def _exit_code(kernel) -> int | None:
    """The dead kernel's exit code, when its process handle still says it (None otherwise)."""
    process = getattr(getattr(getattr(kernel, "km", None), "provisioner", None), "process", None)
    return getattr(process, "returncode", None)


def _watching(await_reply):
    """`RunningKernel.await_reply` that raises DeadKernelError as soon as the kernel process is gone."""
    if getattr(await_reply, "watches_kernel", False):
        return await_reply

    @functools.wraps(await_reply)
    def watched(self, msg_id, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_S if deadline is None else min(POLL_S, max(0.0, deadline - time.monotonic()))
            try:
                return await_reply(self, msg_id, timeout=left)
            except Empty:
                if not self.is_alive():
                    with speaking("en"):        # English in the junit XML, whatever COURSE_LANG says
                        message = died_message(_exit_code(self))
                    raise DeadKernelError(message) from None
                if deadline is not None and time.monotonic() >= deadline:
                    raise                                   # nbval's own timeout, as before

    watched.watches_kernel = True
    return watched


def pytest_configure(config) -> None:
    """Install the watch on nbval's kernel (this plugin is loaded only in the grader's nbval runs)."""
    nbval_kernel.RunningKernel.await_reply = _watching(nbval_kernel.RunningKernel.await_reply)
