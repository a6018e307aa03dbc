/* Supervisor board: keep the panels fresh and the "since" times ticking.

   The board's websocket (/board/ws) only says "hello" (subscribed: refetch) or "refresh"
   (something changed: refetch); the panels come from GET /board/panels like any htmx
   fragment. Refetches are coalesced (at most one per second, and always one after the
   last signal), held while the supervisor has a menu open, and repeated every 15 s in
   case a signal was lost. */
(function () {
  "use strict";

  var root = document.getElementById("board");
  if (!root) return;
  var strings = JSON.parse(root.dataset.strings || "{}");
  var MIN_GAP_MS = 1000, SAFETY_MS = 15000, SILENT_MS = 50000, MENU_HOLD_MS = 30000;

  /* ---- "since" times ------------------------------------------------------- */
  var skew = 0; // server clock minus this browser's clock, ms

  function fill(template, values) {
    return String(template).replace(/%\((\w+)\)s/g, function (m, key) { return values[key]; });
  }

  // Same words as the server's `duration` filter (app/web.py).
  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return fill(strings.s, { s: seconds });
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return fill(strings.ms, { m: minutes, s: seconds % 60 });
    return fill(strings.hm, { h: Math.floor(minutes / 60), m: minutes % 60 });
  }

  function tick() {
    var now = Date.now() + skew;
    root.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.since);
      if (isNaN(since)) return;
      var text = duration((now - since) / 1000);
      if (el.textContent !== text) el.textContent = text;
    });
  }

  function panelsArrived() {
    var panels = document.getElementById("board-panels");
    var serverNow = panels ? Date.parse(panels.dataset.now) : NaN;
    if (!isNaN(serverNow)) skew = serverNow - Date.now();
    var updated = root.querySelector(".board-updated");
    if (updated) {
      updated.textContent = fill(strings.updated, {
        time: new Date().toLocaleTimeString(document.documentElement.lang || undefined,
                                            { hour: "2-digit", minute: "2-digit", second: "2-digit" })
      });
    }
    tick();
  }

  /* ---- refetching the panels ------------------------------------------------ */
  var pending = false, inFlight = false, timer = null, lastAt = 0;

  function menuOpen() {
    // A half-chosen reassign must not vanish under the supervisor's cursor; but a menu
    // left open and forgotten does not freeze the board for more than half a minute.
    var menu = root.querySelector("#board-panels details[open]");
    if (!menu) return false;
    if (menu.contains(document.activeElement) && document.activeElement !== menu.querySelector("summary")) return true;
    return Date.now() - Number(menu.dataset.openedAt || 0) < MENU_HOLD_MS;
  }

  function schedule() {
    if (!pending || inFlight || timer || document.hidden || menuOpen()) return;
    timer = setTimeout(run, Math.max(0, lastAt + MIN_GAP_MS - Date.now()));
  }

  function run() {
    timer = null;
    if (!pending || inFlight || document.hidden || menuOpen()) return;
    pending = false;
    inFlight = true;
    lastAt = Date.now();
    var finished = function () { inFlight = false; schedule(); };
    htmx.ajax("GET", root.dataset.panels, { target: "#board-panels", swap: "outerHTML" })
      .then(finished, finished);
  }

  function refresh() {
    pending = true;
    schedule();
  }

  // Only a board fragment may replace the panels (a login page after the session ended
  // must not land inside the board: reload instead, which leads to the login page).
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var target = evt.detail.target;
    if (!target || target.id !== "board-panels" || !evt.detail.shouldSwap) return;
    if ((evt.detail.serverResponse || "").indexOf('id="board-panels"') < 0) {
      evt.detail.shouldSwap = false;
      if (evt.detail.xhr && evt.detail.xhr.status < 400) window.location.reload();
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (!document.getElementById("board-panels")) return;
    panelsArrived();
    schedule(); // a refetch held for a menu that an action has just swapped away
  });

  // A menu closed (toggle does not bubble: listen while capturing) or the tab came back.
  document.addEventListener("toggle", function (evt) {
    var menu = evt.target;
    if (!menu.matches || !menu.matches("details[data-board-menu]")) return;
    if (menu.open) {
      menu.dataset.openedAt = String(Date.now());
      // One menu at a time.
      root.querySelectorAll("details[data-board-menu][open]").forEach(function (other) {
        if (other !== menu) other.open = false;
      });
    } else {
      schedule();
    }
  }, true);
  document.addEventListener("click", function (evt) {
    if (evt.target.closest && !evt.target.closest("details[data-board-menu]")) {
      root.querySelectorAll("details[data-board-menu][open]").forEach(function (m) { m.open = false; });
    }
  });
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape") return;
    root.querySelectorAll("details[data-board-menu][open]").forEach(function (m) {
      m.open = false;
      var summary = m.querySelector("summary");
      if (summary) summary.focus();
    });
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) refresh();
  });

  /* ---- the socket ------------------------------------------------------------ */
  var ws = null, backoff = 1000, lastMessage = 0;

  function setState(state) {
    var el = document.getElementById("board-live");
    if (!el) return;
    el.dataset.state = state;
    var label = el.querySelector(".board-live-label");
    if (label && strings[state]) label.textContent = strings[state];
  }

  function connect() {
    // Flask builds ws://host/path; take the path, and the scheme and host of this page
    // (wss behind an https proxy, whatever the app server believes).
    var path = new URL(root.dataset.ws, location.href).pathname;
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      ws = null;
      retry();
      return;
    }
    ws.onopen = function () {
      backoff = 1000;
      lastMessage = Date.now();
      setState("live");
    };
    ws.onmessage = function (evt) {
      lastMessage = Date.now();
      // "hello": subscribed, so refetch what may have changed while we were away.
      if (evt.data === "hello" || evt.data === "refresh") refresh();
    };
    ws.onclose = function () {
      ws = null;
      setState("offline");
      retry();
    };
  }

  function retry() {
    setTimeout(connect, backoff + Math.random() * 500);
    backoff = Math.min(backoff * 2, 15000);
  }

  // The server sends a heartbeat every 20 s: silence means a dead connection.
  setInterval(function () {
    if (ws && ws.readyState === WebSocket.OPEN && Date.now() - lastMessage > SILENT_MS) ws.close();
  }, 10000);

  setInterval(refresh, SAFETY_MS);
  setInterval(tick, 1000);

  document.addEventListener("DOMContentLoaded", function () {
    panelsArrived();
    connect();
  });
})();
