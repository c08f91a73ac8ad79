"""The running `up` served on 127.0.0.1 and a unix socket (issue 12): the
status snapshot, the event stream, every control call with its effect on the
engine, and the refusals (no token, foreign Origin, foreign Host)."""

from __future__ import annotations

import http.client
import json
import os
import urllib.request
from pathlib import Path

import pytest

from devrun.session.endpoint import Client, find_running
from tests.conftest import BUSYBOX, PYTHON
from tests.live_helpers import DevrunUp, free_port, wait_until, write_files

pytestmark = pytest.mark.docker

APP = """
import http.server, importlib, os, signal, sys
sys.path.insert(0, "/app")
sys.dont_write_bytecode = True  # a .pyc keyed by mtime seconds and size would serve a same-size edit stale
import handler
VERSION = "v1"
def reload(signum, frame):
    importlib.reload(handler)
    print("reloaded handler", flush=True)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/handler":
            body = handler.TEXT
        elif self.path == "/static":
            try:
                body = open("/srv/static/page.txt").read()
            except OSError:
                body = "missing"
        elif self.path == "/version":
            body = VERSION
        else:
            body = str(os.getpid())
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_HEAD(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
signal.signal(signal.SIGHUP, reload)
server = http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H)
print(f"listening pid {os.getpid()}", flush=True)
server.serve_forever()
"""


def web_project(folder: Path, port: int) -> Path:
    write_files(
        folder,
        {
            "devrun.yaml": f"""
services:
  web:
    image: {PYTHON}
    command: ["python", "-u", "/app/app.py"]
    ports: ["127.0.0.1:{port}:8000"]
    volumes: ["./app:/app"]
    watch:
      - path: app/handler.py
        action: signal
        signal: HUP
      - path: app
        ignore: [handler.py, __pycache__/]
        action: restart
      - path: static
        target: /srv/static
        action: sync
""",
            "app/app.py": APP,
            "app/handler.py": 'TEXT = "h0"\n',
            "static/page.txt": "s0",
        },
    )
    return folder


def get(port: int, path: str, timeout: float = 2) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.read().decode()
    except (OSError, http.client.HTTPException):  # the app restarting mid-answer
        return ""


def control(project: str) -> Client:
    info = wait_until(lambda: find_running(project), 30, what="the control info file")
    return Client(info)


def tcp(info: dict, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    res = conn.getresponse()
    data = res.read()
    conn.close()
    return res.status, data, res


@pytest.fixture
def running_web(tmp_path, project_name):
    port = free_port()
    web_project(tmp_path, port)
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=90)
        wait_until(lambda: get(port, "/version") == "v1", 30, what="the app")
        yield up, port, control(project_name)


def test_status_snapshot_and_token_file(running_web, project_name):
    up, port, client = running_web
    status, snap = client.request("GET", "/api/status")
    assert status == 200
    web = snap["services"]["web"]
    assert web["state"] == "running" and web["container"] and not web["watch_paused"]
    assert any(p["published"] == port for p in web["ports"])
    info = client.info
    from devrun.session.endpoint import info_path

    assert os.stat(info_path(project_name)).st_mode & 0o777 == 0o600
    assert up.of("info", message=f"dashboard: http://127.0.0.1:{info['port']}/?token={info['token']}")


def test_refusals(running_web):
    _up, _port, client = running_web
    info = client.info
    here = f"127.0.0.1:{info['port']}"
    token = {"X-Devrun-Token": info["token"]}
    assert tcp(info, "GET", "/api/status", {"Host": here})[0] == 403  # no token
    assert tcp(info, "GET", "/api/status", {"Host": here, "X-Devrun-Token": "wrong"})[0] == 403
    assert tcp(info, "GET", "/api/status", {"Host": "evil.example", **token})[0] == 403
    assert tcp(info, "GET", "/api/status", {"Host": here, "Origin": "http://evil.example", **token})[0] == 403
    # a change is a POST with a JSON body: a form post (what another page could send) is refused
    form = {"Host": here, "Content-Type": "application/x-www-form-urlencoded", **token}
    assert tcp(info, "POST", "/api/restart", form, b"services=web")[0] == 403
    assert tcp(info, "GET", "/api/restart", {"Host": here, **token})[0] in (404, 405)
    assert tcp(info, "GET", "/etc/passwd", {"Host": here, **token})[0] == 404
    assert tcp(info, "GET", "/assets/..%2f__init__.py", {"Host": here, **token})[0] == 404
    status, _data, res = tcp(info, "GET", "/api/status", {"Host": here, **token})
    assert status == 200 and "Access-Control-Allow-Origin" not in res.headers
    status, _data, res = tcp(info, "GET", f"/?token={info['token']}", {"Host": f"localhost:{info['port']}"})
    assert status == 200 and "HttpOnly" in res.headers.get("Set-Cookie", "")


def test_restart_changes_the_pid(running_web):
    up, port, client = running_web
    before = get(port, "/pid")
    status, answer = client.request("POST", "/api/restart", {"services": ["web"], "wait": True})
    assert status == 200 and answer["ok"], answer
    assert get(port, "/pid") not in ("", before)  # ready means answering: no wait needed here
    applied = up.wait_for("applied", service="web")[-1]
    assert applied["ok"] and applied["changes"] == answer["changes"] and applied["ready"] == "port"


def test_pause_holds_edits_and_resume_applies_them_once(running_web, tmp_path):
    up, port, client = running_web
    assert client.request("POST", "/api/pause", {"services": []})[0] == 202
    up.wait_for("info", message="watching paused for all services")
    assert client.request("GET", "/api/status")[1]["services"]["web"]["watch_paused"]
    restarts = len(up.of("action_started", action="restart"))
    for n in (2, 3):
        (tmp_path / "app/app.py").write_text(APP.replace('VERSION = "v1"', f'VERSION = "v{n}"'))
        up.wait_for("change", count=n - 1, held=True)
    assert len(up.of("action_started", action="restart")) == restarts
    assert get(port, "/version") == "v1"
    status, _ = client.request("POST", "/api/resume", {"services": []})
    assert status == 202
    up.wait_for("applied", service="web")
    assert get(port, "/version") == "v3"
    up.settle()
    assert len(up.of("action_started", action="restart")) == restarts + 1


def test_sync_all_brings_the_container_level(running_web, docker_client, project_name):
    _up, port, client = running_web
    docker_client.containers.get(f"{project_name}-web").exec_run(["rm", "/srv/static/page.txt"])
    assert get(port, "/static") == "missing"
    status, answer = client.request("POST", "/api/sync", {"services": ["web"], "wait": True})
    assert status == 200 and answer["ok"], answer
    assert get(port, "/static") == "s0"


def test_event_stream_is_the_json_events(running_web):
    up, _port, client = running_web
    stream = client.stream("/api/events?logs=0")
    client.request("POST", "/api/restart", {"services": ["web"]})
    seen = []
    for ev in stream:
        seen.append(ev)
        if ev["event"] == "applied":
            break
    kinds = [e["event"] for e in seen]
    assert "action_started" in kinds and "action_finished" in kinds
    assert all(e["v"] == 1 and "ts" in e for e in seen)
    finished = next(e for e in seen if e["event"] == "action_finished")
    assert finished["action"].startswith("restart") and set(finished["stages"]) >= {"detected", "applied"}


def test_stop_ends_up_cleanly(running_web, docker_client, project_name):
    up, _port, client = running_web
    assert client.request("POST", "/api/stop", {})[0] == 202
    assert up.proc.wait(30) == 0
    assert docker_client.containers.get(f"{project_name}-web").status == "exited"
    assert find_running(project_name) is None


def test_rebuild_recreates(tmp_path, project_name, docker_client):
    write_files(
        tmp_path,
        {
            "devrun.yaml": "services:\n  app:\n    build: .\n    command: [sh, -c, 'trap \"exit 0\" TERM; while :; do sleep 0.1; done']\n",
            "Dockerfile": f"FROM {BUSYBOX}\nRUN echo built > /built\n",
        },
    )
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=120)
        client = control(project_name)
        before = docker_client.containers.get(f"{project_name}-app").id
        status, answer = client.request("POST", "/api/rebuild", {"services": ["app"], "wait": True})
        assert status == 200 and answer["ok"], answer
        after = docker_client.containers.get(f"{project_name}-app")
        assert after.id != before and after.status == "running"
        assert any(e["action"].startswith("rebuild") for e in up.actions("app"))


def test_unknown_service_is_a_400(running_web):
    _up, _port, client = running_web
    status, answer = client.request("POST", "/api/restart", {"services": ["nope"]})
    assert status == 400 and "nope" in answer["error"]
    status, answer = client.request("POST", "/api/wait", {"services": ["nope"]})
    assert status == 400


def test_json_body_must_be_an_object(running_web):
    _up, _port, client = running_web
    status, _ = client.request("POST", "/api/restart", body=None)
    assert status == 403  # no JSON content type
    status, answer = client.request("POST", "/api/restart", {"services": "web"})
    assert status == 400 and json.dumps(answer)


def test_the_first_log_lines_are_in_the_recent_past(running_web):
    """The control server starts once `up` is ready; what was printed before
    (the app's first line) is replayed to a stream that asks for the recent past."""
    up, _port, client = running_web
    first = up.of("log", service="web")[0]["line"]
    stream = client.stream("/api/events?recent=1&tail=50")
    lines = []
    for ev in stream:
        if ev["event"] == "log":
            lines.append(ev["line"])
        if first in lines or len(lines) > 50:
            break
    assert first in lines, (first, lines)
