"""The dashboard in a real browser (issue 12): Debian's chromium, headless,
driven by playwright, against a real `devrun up` on the engine.

The page is loaded with the printed link, shows the services, restarts one
from its button (the app's pid changes on the engine and the page shows the
action and its edit-to-ready bar), follows the logs across the restart, and a
slow step stands out in the chart; it saves docs/img/dashboard.png. The
refusals are proven from the browser's side: a page on another loopback port
(which the browser sends the cookie to: cookies ignore ports) cannot read or
steer the API, a DNS-rebound name (`Host: evil.example`) is refused, and a
browser without the token gets nothing.

Needs playwright (pip) and chromium (apt); browsers are never downloaded. Under
CI=true a missing one fails the test; elsewhere it is skipped."""

from __future__ import annotations

import http.server
import os
import tempfile
import threading
import time
from pathlib import Path

import pytest

from devrun.session.endpoint import find_running
from tests.live_helpers import DevrunUp, free_port, wait_until
from tests.test_control_api import get, web_project

pytestmark = pytest.mark.docker

CHROMIUM = os.environ.get("DEVRUN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # a DNS rebinding attacker's name that points at 127.0.0.1
    "--host-resolver-rules=MAP evil.example 127.0.0.1",
]
# the README's picture: written when DEVRUN_SCREENSHOTS=1 (`make screenshots`), else kept out of the tree
SCREENSHOT = (
    Path(__file__).resolve().parent.parent / "docs" / "img" / "dashboard.png"
    if os.environ.get("DEVRUN_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "devrun-dashboard.png"
)

APP = """
import http.server, importlib, os, signal, sys, time
sys.path.insert(0, "/app")
sys.dont_write_bytecode = True  # a .pyc keyed by mtime seconds and size would serve a same-size edit stale
import handler
time.sleep(float(os.environ.get("SLOW", "0")))  # SLOW
def reload(signum, frame):
    importlib.reload(handler)
    print(f"reloaded handler: {handler.TEXT}", flush=True)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/pid":
            body = str(os.getpid())
        elif self.path == "/static":
            try:
                body = open("/srv/static/page.txt").read()
            except OSError:
                body = "missing"
        else:
            body = handler.TEXT
        if self.path.startswith("/hello"):  # not the paths the test polls
            print(f"GET {self.path} -> 200", flush=True)
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


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; the browser comes from apt)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser():
    why = _browser_missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the dashboard test needs a browser in CI: {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def running(tmp_path, project_name):
    """`devrun up` on a small http.server app: (up, the app's port, the control info)."""
    port = free_port()
    web_project(tmp_path, port)  # signal, restart and sync rules; the app is ours
    (tmp_path / "app/app.py").write_text(APP)
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=90)
        wait_until(lambda: get(port, "/") == "h0", 30, what="the app")
        info = wait_until(lambda: find_running(project_name), 30, what="the control info file")
        yield up, port, info


def engine_pid(docker_client, project: str) -> str:
    """The app's pid as the engine sees it (host pid namespace)."""
    top = docker_client.containers.get(f"{project}-web").top()
    col = top["Titles"].index("PID")
    return ",".join(sorted(row[col] for row in top["Processes"] if "app.py" in " ".join(row)))


def watch_page(page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    return problems


def test_dashboard_shows_steers_and_follows(browser, running, docker_client, project_name, tmp_path):
    from playwright.sync_api import expect

    up, app_port, info = running
    ctx = browser.new_context(viewport={"width": 1440, "height": 820})
    page = ctx.new_page()
    problems = watch_page(page)
    assert up.of("info", message=f"dashboard: {info['url']}")
    res = page.goto(info["url"])
    assert res is not None and res.status == 200

    # the link's token became an HttpOnly cookie and left the address bar
    cookie = next(c for c in ctx.cookies() if c["name"] == "devrun_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] == info["token"]
    page.wait_for_url(f"http://127.0.0.1:{info['port']}/")
    assert "token" not in page.evaluate("location.href + document.body.innerText")

    # the services table
    row = page.locator('#services tr[data-service="web"]')
    expect(row.locator(".c-state")).to_have_text("running")
    expect(row.locator("a.port")).to_have_attribute("href", f"http://127.0.0.1:{app_port}/")
    expect(row.locator(".c-watch")).to_have_text("watching")
    expect(page.locator("#conn")).to_have_text("live")

    # restart from the button: the app's process changes on the engine
    before = engine_pid(docker_client, project_name)
    before_app = get(app_port, "/pid")
    assert before and before_app
    row.locator("button.b-restart").click()
    expect(page.locator("#notice")).to_contain_text("restart web: accepted")
    applied = up.wait_for("applied", service="web")[-1]
    assert applied["ok"], applied
    after = wait_until(
        lambda: (p := engine_pid(docker_client, project_name)) and p != before and p, 20, what="a new pid"
    )
    new_app = wait_until(lambda: (p := get(app_port, "/pid")) and p != before_app and p, 20, what="the app")
    assert after != before
    # ... and the page shows the action, its outcome and its bar
    done = page.locator('#timeline li[data-event="action_finished"][data-service="web"]')
    expect(done.first).to_contain_text("restart")
    expect(done.first).to_contain_text("done in")
    expect(page.locator('#timeline li[data-event="applied"]').first).to_contain_text("edit to ready")
    expect(page.locator('#chart g.bar[data-service="web"]')).to_have_count(1)
    expect(row.locator(".c-restarts")).to_have_text("1")

    # the log view followed into the new process, and a new line arrives live
    log = page.locator("#log")
    expect(log).to_contain_text(f"listening pid {new_app}")
    marker = f"hello-{time.monotonic_ns()}"
    assert get(app_port, f"/{marker}") == "h0"
    expect(log).to_contain_text(f"GET /{marker} -> 200")

    # the filter keeps only matching lines, and keeps following
    page.fill("#log-filter", "hello-")
    expect(log.locator(".line")).to_have_count(1)
    second = f"hello-{time.monotonic_ns()}"
    get(app_port, f"/{second}")
    expect(log.locator(".line")).to_have_count(2)
    expect(log.locator(".line").last).to_contain_text(second)
    page.fill("#log-filter", "")
    expect(log).to_contain_text("listening pid")

    # edits of each kind, then a restart made slow on purpose: its bar stands out
    for n in (1, 2):
        (tmp_path / "app/handler.py").write_text(f'TEXT = "h{n}"\n')
        wait_until(lambda n=n: get(app_port, "/") == f"h{n}", 20, what="the signal")
        (tmp_path / "static/page.txt").write_text(f"s{n}")
        wait_until(lambda n=n: get(app_port, "/static") == f"s{n}", 20, what="the sync")
    up.wait_for("applied", service="web", count=5)
    (tmp_path / "app/app.py").write_text(APP.replace('os.environ.get("SLOW", "0")', '"2.5"'))
    up.wait_for("applied", service="web", count=6, timeout=40)
    bars = page.locator("#chart g.bar")
    expect(bars).to_have_count(len(up.of("applied")))
    expect(bars.last).to_have_class("bar slow")
    expect(bars.last.locator("text.value")).to_contain_text("slow")

    # pause and resume watching from the page
    row.locator("button.b-pause").click()
    expect(row.locator(".c-watch")).to_have_text("paused")
    up.wait_for("info", message="watching paused for web")
    expect(row.locator("button.b-pause")).to_have_text("Resume")
    row.locator("button.b-pause").click()
    expect(row.locator(".c-watch")).to_have_text("watching")

    page.locator("#log-service").select_option("web")
    page.wait_for_timeout(300)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert not problems, problems
    ctx.close()


FOREIGN = """<!doctype html><title>another local app</title><script>
const api = "http://127.0.0.1:%(port)d";
window.results = {};
async function probe(name, f) {
  try { const r = await f(); window.results[name] = "answered " + r.type + " " + r.status; }
  catch (e) { window.results[name] = "failed: " + e.name; }
}
(async () => {
  await probe("read", () => fetch(api + "/api/status", {credentials: "include"}));
  await probe("post-json", () => fetch(api + "/api/restart", {method: "POST", credentials: "include",
    headers: {"Content-Type": "application/json"}, body: '{"services": ["web"]}'}));
  await probe("post-simple", () => fetch(api + "/api/restart", {method: "POST", mode: "no-cors",
    credentials: "include", headers: {"Content-Type": "text/plain"}, body: '{"services": ["web"]}'}));
  await new Promise((done) => {
    const img = new Image();
    img.onload = img.onerror = done;
    img.src = api + "/api/status?img";
  });
  await new Promise((done) => {
    const es = new EventSource(api + "/api/events", {withCredentials: true});
    es.onerror = () => { window.results.events = "failed"; es.close(); done(); };
    es.onmessage = () => { window.results.events = "read an event"; es.close(); done(); };
  });
  window.results.done = true;
})();
</script>"""


def serve_foreign(port: int) -> tuple[http.server.ThreadingHTTPServer, int]:
    page = (FOREIGN % {"port": port}).encode()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


class Wire:
    """What the browser really sent to `api` and the status it got back, from
    the DevTools protocol (playwright's own events leave out the requests that
    CORS or ORB blocked)."""

    def __init__(self, ctx, page, api: str):
        self.api = api
        self._by_id: dict[str, dict] = {}
        cdp = ctx.new_cdp_session(page)
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.requestWillBeSentExtraInfo", self._headers)
        cdp.on("Network.responseReceivedExtraInfo", self._status)
        cdp.send("Network.enable")
        self._cdp = cdp

    def _one(self, rid: str) -> dict:
        return self._by_id.setdefault(rid, {"method": None, "path": None, "status": None, "cookie": ""})

    def _sent(self, ev: dict) -> None:
        req = ev["request"]
        if req["url"].startswith(self.api):
            r = self._one(ev["requestId"])
            r["method"], r["path"] = req["method"], req["url"][len(self.api) :]

    def _headers(self, ev: dict) -> None:
        headers = {k.lower(): v for k, v in ev["headers"].items()}
        r = self._one(ev["requestId"])
        r["cookie"] = headers.get("cookie", "")
        if headers.get(":method") == "OPTIONS" or headers.get("access-control-request-method"):
            r["preflight"] = True

    def _status(self, ev: dict) -> None:
        self._one(ev["requestId"]).setdefault("statuses", []).append(ev["statusCode"])
        self._one(ev["requestId"])["status"] = ev["statusCode"]

    def requests(self) -> list[dict]:
        return [r for r in self._by_id.values() if r["path"] is not None]


def test_browser_refusals(browser, running, docker_client, project_name):
    up, app_port, info = running
    port, token = info["port"], info["token"]
    api = f"http://127.0.0.1:{port}"
    up.settle()
    pid = engine_pid(docker_client, project_name)
    actions = len(up.of("action_started"))

    # the dashboard is open in this browser: it holds the cookie
    ctx = browser.new_context()
    page = ctx.new_page()
    assert page.goto(info["url"]).status == 200
    assert any(c["name"] == "devrun_token" for c in ctx.cookies())

    # a page on another loopback port: the browser sends the cookie along (a
    # cookie is not bound to a port) and the Origin or Sec-Fetch-Site header
    # gets every request refused before any handler runs
    server, foreign_port = serve_foreign(port)
    try:
        other = ctx.new_page()
        wire = Wire(ctx, other, api)
        other.goto(f"http://127.0.0.1:{foreign_port}/")
        other.wait_for_function("window.results && window.results.done", timeout=20000)
        results = other.evaluate("window.results")
    finally:
        server.shutdown()
        server.server_close()
    assert results["read"] == "failed: TypeError"  # nothing readable
    assert results["post-json"] == "failed: TypeError"  # the preflight is refused
    assert results["post-simple"] == "answered opaque 0"
    assert results["events"] == "failed"
    # what reached the server (the JSON POST did not: its preflight was refused)
    sent = [r for r in wire.requests() if r["status"] is not None]
    assert sorted((r["method"], r["path"]) for r in sent) == [
        ("GET", "/api/events"),
        ("GET", "/api/status"),
        ("GET", "/api/status?img"),
        ("OPTIONS", "/api/restart"),
        ("POST", "/api/restart"),
    ], sent
    for r in sent:
        assert r["status"] == 403, r
        assert r["method"] == "OPTIONS" or f"devrun_token={token}" in r["cookie"], r
    up.settle()
    assert len(up.of("action_started")) == actions  # nothing was restarted
    assert engine_pid(docker_client, project_name) == pid

    # DNS rebinding: a name that resolves to 127.0.0.1, even with the token
    rebound = ctx.new_page()
    res = rebound.goto(f"http://evil.example:{port}/?token={token}")
    assert res is not None and res.status == 403 and "Host" in res.text()
    res = rebound.goto(f"http://evil.example:{port}/api/status")
    assert res is not None and res.status == 403

    # no token: a fresh browser gets nothing, not even from the API's own origin
    bare = browser.new_context()
    blank = bare.new_page()
    res = blank.goto(f"{api}/")
    assert res is not None and res.status == 403
    res = blank.goto(f"{api}/?token=not-the-token")
    assert res is not None and res.status == 403 and not bare.cookies()
    answer = blank.evaluate(
        """async () => {
            const r = await fetch("/api/restart", {method: "POST",
              headers: {"Content-Type": "application/json"}, body: '{"services": ["web"]}'});
            return r.status;
        }"""
    )
    assert answer == 403
    assert blank.goto(f"{api}/api/status").status == 403
    up.settle()
    assert len(up.of("action_started")) == actions
    bare.close()
    ctx.close()
