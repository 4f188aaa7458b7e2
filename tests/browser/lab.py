"""A JupyterLab server started the way the README starts the course, and a Chromium page driving it.

Used by tests/test_browser.py. The server is ``bash scripts/start.sh`` with extra arguments (no
browser, 127.0.0.1 only, a free port, no token), in its own process group so that stopping it
leaves nothing running. Chromium is Debian's (``executable_path``): browsers are never downloaded.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120


def chromium_path() -> str | None:
    """Debian's Chromium (or ``$COURSE_CHROMIUM``), None when there is none."""
    return os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``bash scripts/start.sh`` on a free port; ``url`` once it answers, ``stop()`` kills its group."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["bash", "scripts/start.sh", "--no-browser", f"--port={self.port}", "--ServerApp.ip=127.0.0.1",
                "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.port_retries=0"]
        if os.geteuid() == 0:
            args.append("--allow-root")
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(args, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def wait_until_up(self, timeout: float = START_TIMEOUT_S) -> None:
        """Return when the server answers; raise (never hang) when it exits or does not come up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with status {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server and everything it started (kernels included)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        try:    # kernels run in the same session: make sure none is left
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log.close()


class Notebook:
    """One notebook open in JupyterLab, driven as a person would: menus, clicks, typing."""

    def __init__(self, page, shots: Path):
        self.page, self.shots = page, shots

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path

    def run_all(self, wait_for: str | None = None, timeout_s: float = 300) -> None:
        """Run → Run All Cells, then wait until the kernel is idle again (and ``wait_for`` text shows)."""
        self.page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
        self.page.click("li.lm-Menu-item:has-text('Run All Cells')")
        self.wait_idle(timeout_s)
        if wait_for:
            self.page.get_by_text(wait_for).first.wait_for(timeout=timeout_s * 1000)

    def save_and_shut_down(self) -> None:
        """Save the notebook (widget state included: the course's JupyterLab settings), then shut its kernel down."""
        self.page.click("div.lm-MenuBar-itemLabel:text-is('File')")
        self.page.click("div.lm-Menu-itemLabel:text-is('Save Notebook')")
        self.page.wait_for_timeout(3000)
        self.page.click("div.lm-MenuBar-itemLabel:text-is('Kernel')")
        self.page.click("li.lm-Menu-item:has-text('Shut Down Kernel')")
        self.page.wait_for_timeout(2000)

    def wait_idle(self, timeout_s: float = 300) -> None:
        """Wait until no cell shows ``[*]`` (queued or running)."""
        self.page.wait_for_timeout(1500)
        self.page.wait_for_function(
            "() => ![...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'))",
            timeout=timeout_s * 1000)

    def errors(self) -> list[str]:
        """Texts a person would read as broken: tracebacks, widget errors, widgets shown as text."""
        texts = self.page.locator(".jp-OutputArea-output").all_inner_texts()
        bad = ("Error displaying widget", "Traceback (most recent call last)", "VBox(children=",
               "HBox(children=", "model not found")
        return [t[:300] for t in texts if any(b in t for b in bad)]


def open_notebook(page, base_url: str, path: str, shots: Path) -> Notebook:
    """Open ``path`` (relative to the repository) in a fresh workspace and wait for its kernel."""
    workspace = f"t{time.monotonic_ns()}"
    page.goto(f"{base_url}/lab/workspaces/{workspace}/tree/{path}?reset")
    page.wait_for_selector(".jp-Notebook", timeout=90_000)
    page.wait_for_function(
        "() => { const s = document.querySelector('.jp-Notebook-ExecutionIndicator, .jp-KernelStatus');"
        " return !!document.querySelector('.jp-Notebook .jp-Cell'); }", timeout=60_000)
    page.wait_for_timeout(2000)
    return Notebook(page, shots)
