"""A real JupyterHub on 127.0.0.1: two users log in, work in their own servers, the instructor grades both.

The hub runs DummyAuthenticator and SimpleLocalProcessSpawner behind configurable-http-proxy (npm;
scripts/test.sh installs it into .venv/hub-proxy). The course is a copy of this repository's code
with the small fixture notebooks as its masters (no training: the test takes about 30-60 s), that
the users' servers import through PYTHONPATH and never write to. Each user's server starts with
scripts/hub-singleuser.sh, which provisions their course home; in it, through the Jupyter server's
REST API and a kernel's websocket, each user saves a lesson and a post-mortem with the course's own
code (``utils.course.lesson_box``, ``utils.course.postmortem_notes``), and tries to write as the other.
The instructor then collects the class (``python -m utils.hub collect``) and grades it
(``python -m utils.grading --all --learners-dir``). The test starts and stops everything itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "grading" / "notebooks"
EXAMPLE_PM = REPO / "learners" / "example-complete" / "phase-19" / "notes"
USERS = ("ana", "bruno")
LESSON = {"ana": "Ana learnt that sorting first makes the total easy to check.",
          "bruno": "Bruno learnt to read the whole notebook before running it."}

jupyterhub = pytest.importorskip("jupyterhub", reason="JupyterHub is not installed (pip install -r requirements.txt)")
requests = pytest.importorskip("requests")
websocket = pytest.importorskip("websocket", reason="websocket-client is not installed")


def _proxy_command() -> str | None:
    """configurable-http-proxy: $COURSE_CHP, .venv/hub-proxy (scripts/test.sh), or the PATH."""
    for candidate in (os.environ.get("COURSE_CHP", ""),
                      REPO / ".venv" / "hub-proxy" / "node_modules" / ".bin" / "configurable-http-proxy",
                      shutil.which("configurable-http-proxy") or ""):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` (Python's own __pycache__ aside) -> its hash; links by their target."""
    out = {}
    for p in sorted(root.rglob("*")):
        if "__pycache__" in p.parts:
            continue
        if p.is_symlink():
            out[p.relative_to(root).as_posix()] = "-> " + os.readlink(p)
        elif p.is_file():
            out[p.relative_to(root).as_posix()] = hashlib.sha1(p.read_bytes()).hexdigest()
    return out


def _install(root: Path) -> Path:
    """A copy of the course's code whose masters are the fixture notebooks (the shared install)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("utils", "theory", "data", "scripts"):
        shutil.copytree(REPO / part, root / part, ignore=ignore)
    shutil.copytree(FIXTURES, root / "notebooks")
    for path in [root, *root.rglob("*")]:      # read-only, as a shared install is
        path.chmod(0o555 if path.is_dir() and not path.is_symlink() else 0o444)
    (root / "scripts" / "hub-singleuser.sh").chmod(0o555)
    return root


def _config(tmp: Path, install: Path, ports: dict[str, int], proxy: str, token: str) -> Path:
    homes = tmp / "homes"
    homes.mkdir()
    config = tmp / "jupyterhub_config.py"
    config.write_text("\n".join([
        "c = get_config()  # noqa",
        "c.JupyterHub.ip = '127.0.0.1'",
        f"c.JupyterHub.port = {ports['public']}",
        "c.JupyterHub.hub_ip = '127.0.0.1'",
        f"c.JupyterHub.hub_port = {ports['hub']}",
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{ports['proxy_api']}'",
        f"c.ConfigurableHTTPProxy.command = [{proxy!r}]",
        f"c.ConfigurableHTTPProxy.pid_file = {str(tmp / 'proxy.pid')!r}",
        f"c.JupyterHub.db_url = 'sqlite:///{tmp / 'hub.sqlite'}'",
        f"c.JupyterHub.cookie_secret_file = {str(tmp / 'cookie_secret')!r}",
        "c.JupyterHub.authenticator_class = 'dummy'",
        "c.JupyterHub.spawner_class = 'simple'",
        f"c.SimpleLocalProcessSpawner.home_dir_template = {str(homes / '{username}')!r}",
        # the course's own start-up hook: provision ~/course, then jupyterhub-singleuser (README, JupyterHub)
        f"c.Spawner.cmd = ['bash', {str(install / 'scripts' / 'hub-singleuser.sh')!r}]",
        "c.Spawner.notebook_dir = '~/course'",
        f"c.Spawner.environment = {{'PYTHONPATH': {str(install)!r}, 'COURSE_PYTHON': {sys.executable!r},"
        " 'MPLBACKEND': 'Agg'}",
        f"c.Spawner.args = {['--allow-root'] if os.geteuid() == 0 else []!r}",
        "c.Spawner.start_timeout = 90",
        "c.Spawner.http_timeout = 90",
        f"c.JupyterHub.services = [{{'name': 'course-test', 'api_token': {token!r}}}]",
        "c.JupyterHub.load_roles = [{'name': 'course-test', 'scopes': ['admin:users', 'admin:servers'],"
        " 'services': ['course-test']}]",
    ]) + "\n", encoding="utf-8")
    return config


class Hub:
    """The hub process (in a session of its own) and what it started, stopped in ``stop``."""

    def __init__(self, tmp: Path, install: Path, proxy: str):
        self.tmp, self.install, self.token = tmp, install, uuid.uuid4().hex
        self.ports = {"public": _free_port(), "hub": _free_port(), "proxy_api": _free_port()}
        self.url = f"http://127.0.0.1:{self.ports['public']}"
        config = _config(tmp, install, self.ports, proxy, self.token)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("COURSE_", "JUPYTERHUB_")) and k not in ("LEARNER", "PYTHONPATH")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        self.log = open(tmp / "hub.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=tmp, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self.seen: set[int] = set()

    def remember_processes(self) -> None:
        """Note every process the hub started so far (servers and kernels run in sessions of their own)."""
        import psutil
        try:
            self.seen |= {p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            pass

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("the hub exited:\n" + self.log_tail())
            try:
                if requests.get(f"{self.url}/hub/api", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise AssertionError("the hub did not answer in time:\n" + self.log_tail())

    def log_tail(self) -> str:
        return (self.tmp / "hub.log").read_text(encoding="utf-8", errors="replace")[-4000:]

    def api(self, method: str, path: str, **kw):
        return requests.request(method, f"{self.url}/hub/api{path}", timeout=30,
                                headers={"Authorization": f"token {self.token}"}, **kw)

    def stop(self) -> None:
        self.remember_processes()
        for user in USERS:
            try:
                self.api("DELETE", f"/users/{user}/server")
            except requests.RequestException:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)     # the hub stops its proxy and the servers it spawned
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        for pid in [self.proc.pid, *self.seen]:          # whatever is left: killed, each in its own group
            for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    kill()
                except (ProcessLookupError, PermissionError):
                    pass
        self.proc.wait()
        self.log.close()

    def survivors(self) -> list[str]:
        """The processes the hub started that still run (none, once ``stop`` is done)."""
        import psutil
        left = []
        for pid in self.seen:
            try:
                proc = psutil.Process(pid)
                if proc.status() != psutil.STATUS_ZOMBIE:
                    left.append(f"{pid} {' '.join(proc.cmdline())[:120]}")
            except psutil.NoSuchProcess:
                pass
        return left


class User:
    """One hub user: logged in through the hub's login page, then its REST API with their own token."""

    def __init__(self, hub: Hub, name: str):
        self.hub, self.name = hub, name
        session = requests.Session()
        session.get(f"{hub.url}/hub/login", timeout=30)
        xsrf = session.cookies.get("_xsrf", "")
        login = session.post(f"{hub.url}/hub/login", data={"username": name, "password": "any", "_xsrf": xsrf},
                             allow_redirects=False, timeout=30)
        assert login.status_code == 302, f"{name} could not log in: {login.status_code} {login.text[:300]}"
        made = session.post(f"{hub.url}/hub/api/users/{name}/tokens", json={"note": "course test", "expires_in": 900},
                            headers={"X-XSRFToken": session.cookies.get("_xsrf", xsrf)}, timeout=30)
        assert made.status_code == 201, f"{name}: no token: {made.status_code} {made.text[:300]}"
        self.headers = {"Authorization": f"token {made.json()['token']}"}
        self.base = f"{hub.url}/user/{name}"

    def hub_api(self, method: str, path: str, **kw):
        return requests.request(method, f"{self.hub.url}/hub/api{path}", headers=self.headers, timeout=30, **kw)

    def start_server(self) -> None:
        started = self.hub_api("POST", f"/users/{self.name}/server")
        assert started.status_code in (201, 202), f"{self.name}: {started.status_code} {started.text[:300]}"

    def wait_server(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.hub_api("GET", f"/users/{self.name}").json().get("servers", {}).get("", {})
            if server.get("ready"):
                return
            time.sleep(0.5)
        raise AssertionError(f"{self.name}'s server did not start:\n" + self.hub.log_tail())

    def server_api(self, method: str, path: str, **kw):
        return requests.request(method, f"{self.base}/api{path}", headers=self.headers, timeout=60, **kw)

    def run(self, notebook_path: str, code: str, timeout: float = 120) -> str:
        """Run ``code`` in a kernel of this user's server started for ``notebook_path``; its printed output.
        Raises AssertionError with the traceback when the code fails."""
        made = self.server_api("POST", "/sessions", json={"path": notebook_path, "type": "notebook",
                                                          "name": Path(notebook_path).name,
                                                          "kernel": {"name": "python3"}})
        assert made.status_code == 201, made.text[:300]
        session = made.json()
        ws_url = self.base.replace("http://", "ws://") + f"/api/kernels/{session['kernel']['id']}/channels"
        ws = websocket.create_connection(ws_url, header=[f"{k}: {v}" for k, v in self.headers.items()],
                                         timeout=timeout)
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": self.name,
                       "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        printed, error = [], None
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    printed.append(content["text"])
                elif kind == "error":
                    error = "\n".join(content["traceback"])
                elif kind == "status" and content["execution_state"] == "idle":
                    break
        finally:
            ws.close()
            self.server_api("DELETE", f"/sessions/{session['id']}")
        assert error is None, f"{self.name}'s code failed:\n{error}"
        return "".join(printed)


def _user_code(name: str, other: str) -> str:
    """What a user does in their own server, with the course's own code."""
    return f"""
import os, utils
from pathlib import Path
from utils.course import learner, lesson_box, postmortem_notes
from utils.postmortem import parse_markdown
from utils.spikelab.runlog import RunLog

print("utils from", Path(utils.__file__).parent.parent)
print("learner", learner.current_learner(), "home", learner.course_home())
lesson_box.save_lesson("19.01", {LESSON[name]!r})
pm = parse_markdown(Path({str(EXAMPLE_PM / 'postmortems' / '19-spike-001.md')!r}).read_text(encoding="utf-8"))
log = RunLog.load({str(next((EXAMPLE_PM / 'run-logs').glob('19-spike-001.json*')))!r})
path, line = postmortem_notes.save_with_lesson(pm, run_log=log)
print("saved", learner.display_path(path))
os.environ["LEARNER"] = {other!r}             # trying to write as the other learner
try:
    lesson_box.save_lesson("19.02", "written as someone else")
    print("WROTE AS", {other!r})
except learner.LearnerNameError as err:
    print("refused:", err)
del os.environ["LEARNER"]
"""


@pytest.fixture
def hub(tmp_path):
    proxy = _proxy_command()
    if proxy is None:
        pytest.skip("JupyterHub test skipped: configurable-http-proxy not found (scripts/test.sh installs it with "
                    "`npm install --prefix .venv/hub-proxy configurable-http-proxy`, which needs npm; "
                    "or set COURSE_CHP to its path)")
    install = _install(tmp_path / "install")
    running = Hub(tmp_path, install, proxy)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()
        assert not running.survivors(), f"left running: {running.survivors()}"
        for port in running.ports.values():     # nobody listens on the hub's ports any more
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)    # TIME_WAIT is no listener
                s.bind(("127.0.0.1", port))
        for path in [install, *install.rglob("*")]:     # writable again, so tmp_path can be removed
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)


def test_a_class_on_jupyterhub_works_collects_and_grades(hub, tmp_path):
    install_before = _digest(hub.install)
    users = {name: User(hub, name) for name in USERS}
    for user in users.values():
        user.start_server()
    for user in users.values():
        user.wait_server()
    hub.remember_processes()
    homes = tmp_path / "homes"
    for name, user in users.items():
        # provisioned at start: the user's own copies of the course notebooks, the masters linked read-only
        listed = user.server_api("GET", f"/contents/learners/{name}/phase-19").json()
        assert sorted(c["name"] for c in listed["content"] if c["type"] == "notebook") == \
            ["01-numbers.ipynb", "02-ratio.ipynb"]
        assert user.server_api("GET", "/contents/notebooks/phase-19-fixture/01-numbers.py").ok
        other = next(u for u in USERS if u != name)
        printed = user.run(f"learners/{name}/phase-19/01-numbers.ipynb", _user_code(name, other))
        assert f"utils from {hub.install}" in printed, printed     # the shared install, not this checkout
        assert f"learner {name} home {homes / name / 'course'}" in printed, printed
        assert f"saved learners/{name}/phase-19/notes/postmortems/19-spike-001.md" in printed, printed
        assert "refused: On JupyterHub you are" in printed and "WROTE AS" not in printed, printed
    # ana solves the first exercise in her copy (through the contents API, as JupyterLab saves it); bruno does not
    ana = users["ana"]
    model = ana.server_api("GET", "/contents/learners/ana/phase-19/01-numbers.ipynb").json()
    for cell in model["content"]["cells"]:
        if cell.get("metadata", {}).get("course", {}).get("exercise") == "sort-numbers":
            cell["source"] = "ordered = sorted(numbers)"
    assert ana.server_api("PUT", "/contents/learners/ana/phase-19/01-numbers.ipynb",
                          json={"type": "notebook", "format": "json", "content": model["content"]}).ok
    homes_before = _digest(homes)

    # the instructor: collect the class, then grade it with the course's grading command
    classroom = tmp_path / "class"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "JUPYTERHUB_")) and k != "LEARNER"}
    collected = subprocess.run([sys.executable, "-m", "utils.hub", "collect", "--homes", str(homes),
                                "--out", str(classroom)], cwd=REPO, env=env, capture_output=True, text=True,
                               timeout=60)
    assert collected.returncode == 0, collected.stderr
    assert "collected ana" in collected.stdout and "collected bruno" in collected.stdout, collected.stdout
    out = tmp_path / "reports"
    graded = subprocess.run([sys.executable, "-m", "utils.grading", "--all", "--learners-dir", str(classroom),
                             "--notebooks", str(hub.install / "notebooks"), "--out", str(out), "--timeout", "30",
                             "--no-shared-runs", "--quiet"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=300)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert _digest(homes) == homes_before, "collecting and grading changed a learner's home"
    assert _digest(hub.install) == install_before, "the course wrote into its shared install"

    summary = (out / "summary.csv").read_text(encoding="utf-8").splitlines()
    assert [row.split(",")[0] for row in summary[1:]] == ["ana", "bruno"]
    reports = {name: (out / f"{name}.md").read_text(encoding="utf-8") for name in USERS}
    assert "| sort-numbers | pass |" in reports["ana"] and "| sort-numbers | FAIL |" in reports["bruno"]
    for name in USERS:
        assert reports[name].startswith(f"# Grading report: {name}")
        assert "| lesson of phase-19/01-numbers.ipynb | pass |" in reports[name]
        assert "| post-mortem 19-spike-001.md: format | pass |" in reports[name]
    for name, other in (("ana", "bruno"), ("bruno", "ana")):
        lessons = (classroom / name / "phase-19" / "notes" / "lessons.md").read_text(encoding="utf-8")
        assert LESSON[name] in lessons and LESSON[other] not in lessons
        assert "written as someone else" not in lessons
        assert not (homes / other / "course" / "learners" / name).exists()
