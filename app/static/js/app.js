/* Switchboard console: the little JavaScript htmx does not do for us. */
(function () {
  "use strict";

  var seenWaiting = new Set();
  var audioCtx = null;

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; }
    catch (e) { return ""; }
  }

  function post(url) {
    return fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" } });
  }

  /* ---- connection state ------------------------------------------------ */
  function setWsState(state) {
    var el = document.getElementById("ws-state");
    var strings = document.getElementById("ws-strings");
    if (!el || !strings) return;
    el.dataset.state = state;
    var label = el.querySelector(".ws-label");
    if (label) label.textContent = strings.dataset[state === "live" ? "live" : (state === "offline" ? "offline" : "connecting")];
  }
  document.addEventListener("htmx:wsClose", function () { setWsState("offline"); });
  document.addEventListener("htmx:wsError", function () { setWsState("offline"); });
  document.addEventListener("htmx:wsConnecting", function () {
    var el = document.getElementById("ws-state");
    if (el && el.dataset.state !== "offline") setWsState("connecting");
  });

  /* The server says hello once it has subscribed us: refetch everything shown, so
     nothing that happened while we were away stays missing. */
  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    var el = evt.detail && evt.detail.target;
    if (el && el.id === "ws-state" && el.dataset.resync) {
      htmx.trigger(document.body, "resync");
    }
  });

  /* ---- new chats: sound + browser notification -------------------------- */
  function chime() {
    try {
      audioCtx = audioCtx || new (window.AudioContext || window.webkitAudioContext)();
      [660, 880].forEach(function (freq, i) {
        var o = audioCtx.createOscillator(), g = audioCtx.createGain();
        o.frequency.value = freq; o.type = "sine";
        var t = audioCtx.currentTime + i * 0.14;
        g.gain.setValueAtTime(0.0001, t);
        g.gain.exponentialRampToValueAtTime(0.18, t + 0.02);
        g.gain.exponentialRampToValueAtTime(0.0001, t + 0.25);
        o.connect(g); g.connect(audioCtx.destination); o.start(t); o.stop(t + 0.3);
      });
    } catch (e) { /* no audio: the list still shows it */ }
  }

  function notify(item) {
    var strings = JSON.parse(document.body.dataset.strings || "{}");
    chime();
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      var n = new Notification(item.dataset.notifyTitle || strings.new_chat || "", {
        body: item.dataset.notifyBody || "", tag: "chat-" + item.dataset.chatId });
      n.onclick = function () { window.focus(); item.querySelector("a").click(); n.close(); };
    } catch (e) { /* some browsers only allow notifications from a service worker */ }
  }

  /* A waiting chat offered to one operator (round robin, least loaded) is the same
     fragment for the whole queue: mark it "mine" or "other" here. Only new chats for
     everyone, and offers to me, ring. */
  function scanWaiting(initial) {
    var me = document.body.dataset.userId || "";
    var seen = {};
    document.querySelectorAll("#waiting-list > li[data-chat-id]").forEach(function (li) {
      var id = li.dataset.chatId;
      if (seen[id]) { seen[id].remove(); }  // a re-appended item replaces the old one
      seen[id] = li;
      var to = li.dataset.offeredTo || "";
      li.classList.toggle("offer-mine", to !== "" && to === me);
      li.classList.toggle("offer-other", to !== "" && to !== me);
      var key = id + ":" + to;
      if (!seenWaiting.has(key)) {
        seenWaiting.add(key);
        var forMe = li.dataset.mode === "manual" ? !seenWaiting.has(id) : to === me;
        seenWaiting.add(id);
        if (!initial && forMe) notify(li);
      }
    });
    tickOffers();
  }

  var secondsText = null;
  function tickOffers() {
    var now = Date.now();
    if (secondsText === null) {
      secondsText = (JSON.parse(document.body.dataset.strings || "{}").seconds) || "{n} s";
    }
    document.querySelectorAll("#waiting-list > li.offer-mine[data-offer-expires]").forEach(function (li) {
      var left = Math.max(0, Math.round((Date.parse(li.dataset.offerExpires) - now) / 1000));
      var el = li.querySelector(".offer-countdown");
      var text = secondsText.replace("{n}", left);
      if (el && el.textContent !== text) el.textContent = text;
    });
  }
  setInterval(tickOffers, 1000);

  /* ---- lists: counts, dedupe, scrolling ---------------------------------- */
  function updateCounts() {
    document.querySelectorAll("[data-count-of]").forEach(function (el) {
      var list = document.getElementById(el.dataset.countOf);
      var n = list ? list.children.length : 0;
      var text = n ? String(n) : "";
      // Only write on change: this runs from a MutationObserver.
      if (el.textContent !== text) el.textContent = text;
    });
  }

  function dedupeMessages(container) {
    var seen = {};
    container.querySelectorAll("[data-msg-id]").forEach(function (el) {
      var id = el.dataset.msgId;
      if (seen[id]) seen[id].remove();
      seen[id] = el;
    });
  }

  function scrollToEnd(container, force) {
    var nearEnd = container.scrollHeight - container.scrollTop - container.clientHeight < 160;
    if (force || nearEnd) container.scrollTop = container.scrollHeight;
  }

  var readTimer = null;
  function markRead(chatId) {
    clearTimeout(readTimer);
    readTimer = setTimeout(function () {
      if (document.visibilityState === "visible") post("/workspace/chats/" + chatId + "/read");
    }, 300);
  }

  var observer = new MutationObserver(function (mutations) {
    var waitingChanged = false, openMessages = null, incoming = false;
    mutations.forEach(function (m) {
      m.addedNodes.forEach(function (node) {
        if (node.nodeType !== 1) return;
        if (node.closest && node.closest("#waiting-list")) waitingChanged = true;
        if (node.querySelector && node.querySelector("#waiting-list")) waitingChanged = true;
        var msgs = node.closest && node.closest(".messages[data-chat-id]");
        if (msgs) { openMessages = msgs; if (node.classList.contains("msg-in")) incoming = true; }
      });
    });
    if (waitingChanged) scanWaiting(false);
    if (waitingChanged || mutations.some(function (m) { return m.target.closest && m.target.closest(".chat-list"); })) markCurrent();
    if (openMessages) {
      dedupeMessages(openMessages);
      scrollToEnd(openMessages, false);
      if (incoming && document.getElementById("chat-controls-" + openMessages.dataset.chatId)
          && document.querySelector("#chat-controls-" + openMessages.dataset.chatId + " [data-composer]")) {
        markRead(openMessages.dataset.chatId);
      }
    }
    updateCounts();
  });

  // Images load after the list has scrolled: keep the end in view if we were there.
  document.addEventListener("load", function (evt) {
    var img = evt.target;
    if (img.tagName !== "IMG") return;
    var msgs = img.closest(".messages[data-chat-id]");
    if (msgs && msgs.scrollHeight - msgs.scrollTop - msgs.clientHeight < 160 + img.clientHeight) {
      msgs.scrollTop = msgs.scrollHeight;
    }
  }, true);

  document.addEventListener("visibilitychange", function () {
    var msgs = document.querySelector(".chat-panel .messages[data-chat-id]");
    if (document.visibilityState === "visible" && msgs) markRead(msgs.dataset.chatId);
  });

  /* ---- composer ---------------------------------------------------------- */
  document.addEventListener("keydown", function (evt) {
    var ta = evt.target;
    if (ta.matches && ta.matches("form[data-composer] textarea") && evt.key === "Enter"
        && !evt.shiftKey && !evt.isComposing) {
      evt.preventDefault();
      var form = ta.form;
      if (ta.value.trim() || form.querySelector("[data-attach]").files.length) form.requestSubmit();
    }
  });
  document.addEventListener("change", function (evt) {
    if (evt.target.matches && evt.target.matches("[data-attach]")) {
      var label = evt.target.closest("label").querySelector(".attach-label");
      var file = evt.target.files[0];
      label.textContent = file ? file.name : label.dataset.default;
    }
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = evt.detail.elt;
    if (form.matches && form.matches("form[data-composer]") && evt.detail.successful) {
      form.reset();
      var label = form.querySelector(".attach-label");
      if (label) label.textContent = label.dataset.default;
      var ta = form.querySelector("textarea");
      if (ta) ta.focus();
    }
  });

  /* ---- refusals as toasts ------------------------------------------------ */
  /* The server answers a refused htmx request (4xx/5xx) with a toast marked by the header
     X-Switchboard-Toast (app/web.py error_response); htmx 2 does not swap errors. Show it
     from the XHR itself: that also works when the element that sent the request is gone by
     then (the waiting item of a chat another operator has just accepted is removed live). */
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var xhr = evt.detail && evt.detail.xhr;
    if (!xhr) return;
    xhr.addEventListener("load", function () {
      if (xhr.status < 400 || xhr.getResponseHeader("X-Switchboard-Toast") !== "1") return;
      var box = document.getElementById("toasts");
      if (!box) return;
      box.insertAdjacentHTML("beforeend", xhr.responseText);
      autohideToasts();
    });
  });

  /* ---- the open chat and keyboard ------------------------------------------ */
  function openChatId() {
    var panel = document.getElementById("chat-panel");
    return panel ? panel.dataset.chatId : null;
  }

  function markCurrent() {
    var id = openChatId();
    document.querySelectorAll(".chat-list > li[data-chat-id]").forEach(function (li) {
      var on = li.dataset.chatId === id;
      li.classList.toggle("current", on);
      var link = li.querySelector("a");
      if (link) { if (on) link.setAttribute("aria-current", "true"); else link.removeAttribute("aria-current"); }
    });
  }

  function listItems() {
    return Array.prototype.slice.call(document.querySelectorAll(".chat-list > li[data-chat-id]"));
  }

  // Alt+Down / Alt+Up: next / previous chat; Alt+A: accept the oldest waiting chat;
  // "/" focuses the search box on list pages; Esc leaves the composer.
  document.addEventListener("keydown", function (evt) {
    var typing = evt.target.matches && evt.target.matches("input, textarea, select");
    if (evt.altKey && (evt.key === "ArrowDown" || evt.key === "ArrowUp")) {
      var items = listItems();
      if (!items.length) return;
      var idx = items.findIndex(function (li) { return li.dataset.chatId === openChatId(); });
      idx = evt.key === "ArrowDown" ? Math.min(items.length - 1, idx + 1) : Math.max(0, idx - 1);
      evt.preventDefault();
      items[idx].querySelector("a").click();
    } else if (evt.altKey && (evt.key === "a" || evt.key === "A" || evt.code === "KeyA")) {
      var btn = document.querySelector("#waiting-list > li:not(.offer-other) .accept-btn:not([disabled])");
      if (btn) { evt.preventDefault(); btn.click(); }
    } else if (evt.key === "/" && !typing) {
      var search = document.querySelector("input[type=search]");
      if (search) { evt.preventDefault(); search.focus(); }
    } else if (evt.key === "Escape" && typing) {
      evt.target.blur();
    }
  });

  /* ---- small things ------------------------------------------------------ */
  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest && evt.target.closest("[data-copy]");
    if (btn) {
      var text = document.querySelector(btn.dataset.copy).innerText;
      navigator.clipboard.writeText(text).then(function () {
        var old = btn.textContent; btn.textContent = btn.dataset.copied;
        setTimeout(function () { btn.textContent = old; }, 1500);
      });
    }
    var presence = evt.target.closest && evt.target.closest(".presence-active");
    if (presence && "Notification" in window && Notification.permission === "default") {
      Notification.requestPermission();
    }
  });

  function autohideToasts() {
    document.querySelectorAll("[data-autohide]:not([data-hiding])").forEach(function (t) {
      t.dataset.hiding = "1";
      setTimeout(function () { t.remove(); }, 6000);
    });
  }

  document.addEventListener("htmx:afterSettle", function (evt) {
    autohideToasts();
    var msgs = evt.detail.elt && evt.detail.elt.querySelector && evt.detail.elt.querySelector(".messages[data-chat-id]");
    if (msgs) scrollToEnd(msgs, true);
    updateCounts();
    markCurrent();
  });

  document.addEventListener("DOMContentLoaded", function () {
    scanWaiting(true);
    updateCounts();
    markCurrent();
    autohideToasts();
    var msgs = document.querySelector(".messages[data-chat-id]");
    if (msgs) scrollToEnd(msgs, true);
    observer.observe(document.body, { childList: true, subtree: true });
  });
})();
