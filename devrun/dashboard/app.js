// devrun dashboard: plain JS, no build step. It reads GET /api/status and the
// event stream (GET /api/events, server-sent events, the same events as
// `devrun up --json`) and steers with POSTs. The token travels in the cookie
// that opening the printed link set (HttpOnly: this script never sees it).
// Container output and file names are data: they only ever go in textContent.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const MAX_LOG = 5000; // lines kept in the page, all services
  const MAX_SHOWN = 1500; // lines in the log view at once
  const MAX_TIMELINE = 300;
  const MAX_BARS = 24;
  const POLL_MS = 2000; // health and uptime are not events: the snapshot is read again

  const page = {
    snap: null,
    lastId: 0, // newest event id seen: a reconnect's replay is not shown twice
    logs: [], // {service, stream, line, ts, mark}
    rows: new Map(), // service -> {tr, cells, buttons}
    running: new Map(), // "service|changes" -> the timeline item of a started step
    actionOf: new Map(), // "service|changes" -> the action that ran them
    applied: [], // applied events, for the chart
    statusBusy: false,
    statusAgain: false,
  };

  // ---- helpers ------------------------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function clock(ts) {
    const d = ts ? new Date(ts) : new Date();
    return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString([], { hour12: false });
  }

  function ms(n) {
    if (n === null || n === undefined) return "";
    return n >= 10000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`;
  }

  function uptime(s) {
    if (s === null || s === undefined) return "";
    if (s < 60) return `${Math.floor(s)}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${Math.floor(s % 60)}s`;
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  }

  function key(ev) {
    return `${ev.service}|${(ev.changes || []).join(",")}`;
  }

  function notice(text, bad) {
    const n = $("notice");
    n.textContent = text;
    n.className = bad ? "bad" : "";
  }

  // ---- control ------------------------------------------------------------------

  async function post(kind, services) {
    const what = `${kind} ${services.length ? services.join(", ") : "all"}`;
    notice(`${what}: sent`);
    try {
      const res = await fetch(`/api/${kind}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ services }),
        credentials: "same-origin",
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) {
        notice(`${what}: refused (${res.status}) ${body.error || ""}`, true);
        return;
      }
      const ids = body.changes && body.changes.length ? ` (change ${body.changes.join(", ")})` : "";
      notice(`${what}: accepted${ids}`);
    } catch (e) {
      notice(`${what}: ${e}`, true);
    }
    refreshStatus();
  }

  // ---- the services table -------------------------------------------------------

  function serviceRow(name) {
    let row = page.rows.get(name);
    if (row) return row;
    const tr = el("tr");
    tr.dataset.service = name;
    const cells = {};
    for (const c of ["service", "state", "health", "ports", "uptime", "restarts", "action", "watch"]) {
      cells[c] = el("td", `c-${c}`);
      tr.append(cells[c]);
    }
    cells.service.textContent = name;
    const buttons = {};
    const td = el("td", "c-buttons");
    for (const [kind, label] of [
      ["restart", "Restart"],
      ["rebuild", "Rebuild"],
      ["pause", "Pause"],
    ]) {
      const b = el("button", `b-${kind}`, label);
      b.type = "button";
      b.addEventListener("click", () => {
        const k = kind === "pause" && b.dataset.paused === "1" ? "resume" : kind;
        post(k, [name]);
      });
      buttons[kind] = b;
      td.append(b);
    }
    tr.append(td);
    $("services").tBodies[0].append(tr);
    row = { tr, cells, buttons };
    page.rows.set(name, row);
    const opt = el("option", "", name);
    opt.value = name;
    $("log-service").append(opt);
    return row;
  }

  function portLinks(td, ports) {
    td.replaceChildren();
    for (const p of ports || []) {
      if (!p.published) continue;
      const label = `${p.published}→${p.target}${p.protocol && p.protocol !== "tcp" ? "/" + p.protocol : ""}`;
      if (p.protocol && p.protocol !== "tcp") {
        td.append(el("span", "port", label));
        continue;
      }
      let host = p.host_ip;
      if (!host || host === "0.0.0.0" || host === "::") host = "127.0.0.1";
      if (host.includes(":")) host = `[${host}]`;
      const a = el("a", "port", label);
      a.href = `http://${host}:${p.published}/`;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      td.append(a);
    }
  }

  function showStatus(snap) {
    page.snap = snap;
    $("project").textContent = snap.project || "";
    document.title = `devrun: ${snap.project || ""}`;
    $("paused-all").hidden = !snap.watch_paused;
    $("pause-all").textContent = snap.watch_paused ? "Resume all" : "Pause all";
    const names = Object.keys(snap.services || {});
    for (const [name, row] of page.rows) {
      if (!names.includes(name)) {
        row.tr.remove();
        page.rows.delete(name);
        for (const o of $("log-service").options) if (o.value === name) o.remove();
      }
    }
    for (const name of names) {
      const s = snap.services[name];
      const { tr, cells, buttons } = serviceRow(name);
      const state = s.busy ? `${s.state}, applying` : s.state;
      cells.state.textContent = state;
      cells.state.className = `c-state st-${s.state}${s.busy ? " busy" : ""}`;
      cells.health.textContent = s.health || "–";
      cells.health.className = `c-health h-${s.health || "none"}`;
      portLinks(cells.ports, s.ports);
      cells.uptime.textContent = uptime(s.uptime_s);
      cells.restarts.textContent = String(s.restarts ?? "");
      const last = (s.last_actions || []).at(-1);
      cells.action.replaceChildren();
      if (last) {
        cells.action.append(el("span", last.ok ? "ok" : "bad", `${last.action} ${ms(last.duration_ms)}`));
      }
      if (s.last_error) cells.action.append(el("div", "bad err", s.last_error));
      cells.watch.textContent = s.watch_paused ? "paused" : "watching";
      cells.watch.className = s.watch_paused ? "c-watch paused" : "c-watch";
      buttons.pause.textContent = s.watch_paused ? "Resume" : "Pause";
      buttons.pause.dataset.paused = s.watch_paused ? "1" : "0";
      tr.classList.toggle("failed", Boolean(s.last_error));
    }
  }

  async function refreshStatus() {
    if (page.statusBusy) {
      page.statusAgain = true;
      return;
    }
    page.statusBusy = true;
    try {
      const res = await fetch("/api/status", { credentials: "same-origin", cache: "no-store" });
      if (res.status === 403) {
        notice("refused: open the link `devrun up` printed (the token is per run)", true);
      } else if (res.ok) {
        showStatus(await res.json());
      }
    } catch (_e) {
      // the stream's state says it
    } finally {
      page.statusBusy = false;
      if (page.statusAgain) {
        page.statusAgain = false;
        refreshStatus();
      }
    }
  }

  // ---- logs ---------------------------------------------------------------------

  function logMatches(entry) {
    const svc = $("log-service").value;
    const filter = $("log-filter").value.trim().toLowerCase();
    return (!svc || entry.service === svc) && (!filter || entry.line.toLowerCase().includes(filter));
  }

  function logLine(entry) {
    const d = el("div", `line s-${entry.stream}${entry.mark ? " mark" : ""}`);
    d.append(el("span", "ts", clock(entry.ts)), el("span", "svc", entry.service), el("span", "txt", entry.line));
    return d;
  }

  function follow() {
    if ($("log-follow").checked) {
      const log = $("log");
      log.scrollTop = log.scrollHeight;
    }
  }

  function countShown() {
    $("log-count").textContent = `${$("log").childElementCount} of ${page.logs.length} lines`;
  }

  function renderLogs() {
    const shown = page.logs.filter(logMatches).slice(-MAX_SHOWN);
    $("log").replaceChildren(...shown.map(logLine));
    countShown();
    follow();
  }

  function addLog(entry) {
    page.logs.push(entry);
    if (page.logs.length > MAX_LOG) page.logs.splice(0, page.logs.length - MAX_LOG);
    if (!logMatches(entry)) return;
    const log = $("log");
    log.append(logLine(entry));
    while (log.childElementCount > MAX_SHOWN) log.firstElementChild.remove();
    countShown();
    follow();
  }

  // ---- the timeline ---------------------------------------------------------------

  function timelineItem(ev, cls, text) {
    const li = el("li", cls);
    li.dataset.event = ev.event;
    if (ev.service) li.dataset.service = ev.service;
    li.append(el("span", "ts", clock(ev.ts)), el("span", "svc", ev.service || "devrun"), el("span", "what", text));
    const list = $("timeline");
    list.prepend(li);
    while (list.childElementCount > MAX_TIMELINE) list.lastElementChild.remove();
    return li;
  }

  function paths(ev) {
    const p = ev.paths || [];
    if (!p.length) return "";
    return `: ${p.slice(0, 3).join(", ")}${p.length > 3 ? ` and ${p.length - 3} more` : ""}`;
  }

  function onTimelineEvent(ev) {
    const ids = ev.changes && ev.changes.length ? ` #${ev.changes.join(", #")}` : "";
    switch (ev.event) {
      case "change":
        timelineItem(ev, "change", `${ev.count} changed${paths(ev)}${ev.held ? " (held: watching paused)" : ""}`);
        break;
      case "action_started": {
        const li = timelineItem(ev, "action running", `${ev.action}${ids} running`);
        page.running.set(key(ev), li);
        break;
      }
      case "action_finished": {
        page.actionOf.set(key(ev), ev.action);
        const text = `${ev.action}${ids} ${ev.ok ? "done" : "failed"} in ${ms(ev.duration_ms)}${ev.ok ? "" : `: ${ev.error}`}`;
        const li = page.running.get(key(ev));
        page.running.delete(key(ev));
        if (li) {
          li.className = `action ${ev.ok ? "ok" : "bad"}`;
          li.dataset.event = ev.event;
          li.querySelector(".what").textContent = text;
        } else {
          timelineItem(ev, `action ${ev.ok ? "ok" : "bad"}`, text);
        }
        break;
      }
      case "applied":
        timelineItem(
          ev,
          `applied ${ev.ok ? "ok" : "bad"}`,
          ev.ok
            ? `live${ids}: edit to ready ${ms(ev.edit_to_ready_ms)}${ev.ready ? ` (ready: ${ev.ready})` : ""}`
            : `not live${ids}: ${ev.error}`,
        );
        page.applied.push(ev);
        if (page.applied.length > MAX_BARS) page.applied.splice(0, page.applied.length - MAX_BARS);
        drawChart();
        break;
      case "service_started":
        timelineItem(ev, "lifecycle", `started (container ${String(ev.container || "").slice(0, 12)})`);
        break;
      case "container_exited": {
        const last = (ev.last_lines || []).at(-1);
        timelineItem(ev, ev.exit_code ? "bad" : "lifecycle", `exited with code ${ev.exit_code}${last ? `: ${last}` : ""}`);
        break;
      }
      case "service_stopped":
        timelineItem(ev, "lifecycle", "stopped");
        break;
      case "config_reloaded":
        timelineItem(ev, "info", `config reloaded: ${(ev.services_changed || []).join(", ") || "no service changed"}`);
        break;
      case "error":
        timelineItem({ ...ev, service: ev.where }, "bad", ev.message);
        break;
      case "warning":
        timelineItem(ev, "warn", ev.message);
        break;
      case "info":
        if (/^dashboard:/.test(ev.message || "")) break; // the link carries the token
        timelineItem(ev, "info", ev.message);
        break;
      default:
        break;
    }
  }

  // ---- the edit-to-ready chart ----------------------------------------------------

  function segments(ev) {
    const st = ev.stages || {};
    const total = ev.edit_to_ready_ms ?? st.ready ?? st.applied ?? 0;
    const closed = Math.min(st.batch_closed ?? 0, total);
    const applied = Math.min(Math.max(st.applied ?? closed, closed), total);
    return { total, parts: [["batch", closed], ["apply", applied - closed], ["ready", total - applied]] };
  }

  function median(xs) {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.floor(s.length / 2)] : 0;
  }

  function drawChart() {
    const box = $("chart");
    const bars = page.applied;
    if (!bars.length) return;
    const data = bars.map((ev) => ({ ev, ...segments(ev) }));
    const mid = median(data.map((d) => d.total));
    const max = Math.max(1, ...data.map((d) => d.total));
    const W = 720;
    const labelW = 190;
    const valueW = 90;
    const rowH = 20;
    const plotW = W - labelW - valueW;
    const H = data.length * rowH + 8;
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": "edit to ready per change", class: "chart" });
    data.forEach((d, i) => {
      const y = 4 + i * rowH;
      const ev = d.ev;
      const slow = data.length >= 3 && d.total > 2 * mid && d.total - mid > 50;
      const g = svg("g", { class: `bar${slow ? " slow" : ""}${ev.ok ? "" : " failed"}`, "data-service": ev.service });
      const action = page.actionOf.get(key(ev)) || "";
      const ids = (ev.changes || []).length ? `#${ev.changes.at(-1)}` : "";
      g.append(svg("text", { x: labelW - 6, y: y + 13, "text-anchor": "end", class: "label" }, `${ev.service} ${ids} ${action}`.trim()));
      let x = labelW;
      for (const [name, v] of d.parts) {
        const w = (v / max) * plotW;
        if (w > 0) {
          g.append(svg("rect", { x, y: y + 2, width: Math.max(w, 1), height: rowH - 6, class: `seg k-${name}` }));
        }
        x += w;
      }
      if (slow) {
        g.append(svg("rect", { x: labelW - 1, y: y + 1, width: x - labelW + 2, height: rowH - 4, class: "slow-frame" }));
      }
      const label = `${ms(d.total)}${ev.ok ? "" : " failed"}${slow ? " slow" : ""}`;
      g.append(svg("text", { x: x + 6, y: y + 13, class: "value" }, label));
      const st = ev.stages || {};
      g.append(
        svg(
          "title",
          {},
          `${ev.service} ${ids} ${action}: batch closed ${ms(st.batch_closed)}, applied ${ms(st.applied)}, ` +
            `ready ${ms(st.ready)} (${ev.ready || "not ready"})${ev.ok ? "" : `; error: ${ev.error}`}`,
        ),
      );
      s.append(g);
    });
    box.replaceChildren(s);
  }

  // ---- the event stream -----------------------------------------------------------

  function onEvent(ev) {
    if (ev.event === "log") {
      addLog({ service: ev.service, stream: ev.stream, line: ev.line, ts: ev.ts });
      return;
    }
    if (ev.event === "service_started") {
      addLog({ service: ev.service, stream: "devrun", line: `── started container ${String(ev.container || "").slice(0, 12)} ──`, ts: ev.ts, mark: true });
    } else if (ev.event === "action_finished" && /^(restart|rebuild)/.test(ev.action || "")) {
      const how = ev.ok ? "done" : `failed: ${ev.error}`;
      addLog({ service: ev.service, stream: "devrun", line: `── ${ev.action} ${how} ──`, ts: ev.ts, mark: true });
    } else if (ev.event === "container_exited") {
      addLog({ service: ev.service, stream: "devrun", line: `── exited with code ${ev.exit_code} ──`, ts: ev.ts, mark: true });
    }
    onTimelineEvent(ev);
    refreshStatus();
  }

  function connect() {
    const conn = $("conn");
    const es = new EventSource("/api/events?recent=1&tail=500");
    es.onopen = () => {
      conn.textContent = "live";
      conn.className = "conn on";
    };
    es.onerror = () => {
      const closed = es.readyState === EventSource.CLOSED;
      conn.textContent = closed ? "disconnected (is devrun up still running?)" : "reconnecting";
      conn.className = "conn off";
    };
    es.onmessage = (m) => {
      const id = Number(m.lastEventId);
      if (id && id <= page.lastId) return; // replayed after a reconnect
      if (id) page.lastId = id;
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch (_e) {
        return;
      }
      onEvent(ev);
    };
  }

  // ---- start ----------------------------------------------------------------------

  function start() {
    // the link's token is now a cookie: keep it out of the address bar and history
    if (new URLSearchParams(location.search).has("token")) history.replaceState(null, "", location.pathname);
    $("pause-all").addEventListener("click", () => post(page.snap && page.snap.watch_paused ? "resume" : "pause", []));
    $("log-service").addEventListener("change", renderLogs);
    $("log-filter").addEventListener("input", renderLogs);
    $("log-follow").addEventListener("change", follow);
    $("log").addEventListener("scroll", () => {
      const log = $("log");
      $("log-follow").checked = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    });
    refreshStatus();
    connect();
    setInterval(refreshStatus, POLL_MS);
  }

  start();
})();
