/* Persona-MCP dashboard: live overview, live bot status, live bot logs (server-sent events).
   No inline script or style anywhere: this file is loaded with <script src> and only sets
   classes and text, so a strict Content-Security-Policy allows it. */
(function () {
  "use strict";

  function setLive(on) {
    document.querySelectorAll(".pm-livedot").forEach(function (dot) {
      if (dot.id === "pm-log-state") return;
      dot.classList.toggle("on", on);
    });
  }

  function updateBot(data) {
    // Our badges (persona page, log page)
    document.querySelectorAll('[data-bot-status="' + data.id + '"]').forEach(function (el) {
      el.textContent = data.status + (data.gave_up ? " (gave up)" : "");
      el.className = "pm-status pm-status-" + data.status;
    });
    // The bot list of the admin: the row whose checkbox holds the bot's id
    var box = document.querySelector('#result_list input.action-select[value="' + data.id + '"]');
    if (box) {
      var row = box.closest("tr");
      var cell = row && row.querySelector("td.field-status_badge");
      if (cell) {
        var badge = document.createElement("span");
        badge.className = "pm-status pm-status-" + data.status;
        badge.setAttribute("data-bot-status", data.id);
        badge.title = data.last_error || "";
        badge.textContent = data.status + (data.gave_up ? " (gave up)" : "");
        cell.replaceChildren(badge);
      }
      var pid = row && row.querySelector("td.field-pid");
      if (pid) pid.textContent = data.pid || "—";
      if (row) {
        row.classList.add("pm-flash");
        setTimeout(function () { row.classList.remove("pm-flash"); }, 1200);
      }
    }
  }

  function startStream() {
    var host = document.querySelector("[data-stream]:not(#pm-log)");
    if (!host || !window.EventSource) return;
    var source = new EventSource(host.getAttribute("data-stream"));
    source.addEventListener("open", function () { setLive(true); });
    source.addEventListener("error", function () { setLive(false); });
    source.addEventListener("overview", function (ev) {
      var live = document.getElementById("pm-live");
      if (live) live.innerHTML = JSON.parse(ev.data).html;
      setLive(true);
    });
    source.addEventListener("bot", function (ev) { updateBot(JSON.parse(ev.data)); });
  }

  // --- the live log -------------------------------------------------------------------------
  var MAX_LINES = 5000;

  function startLog() {
    var box = document.getElementById("pm-log");
    if (!box || !window.EventSource) return;
    var form = document.getElementById("pm-log-filter");
    var level = document.getElementById("pm-log-level");
    var query = document.getElementById("pm-log-q");
    var follow = document.getElementById("pm-log-follow");
    var count = document.getElementById("pm-log-count");
    var state = document.getElementById("pm-log-state");
    var source = null;
    var lines = 0;
    var timer = null;

    function status(text, on) {
      state.textContent = text;
      state.classList.toggle("on", !!on);
    }

    function add(data) {
      var div = document.createElement("div");
      div.className = "line lvl-" + data.level.toLowerCase() + (data.source === "console" ? " console" : "");
      div.textContent = data.line;
      box.appendChild(div);
      lines += 1;
      while (box.childElementCount > MAX_LINES) box.removeChild(box.firstElementChild);
      count.textContent = lines + (lines === 1 ? " line" : " lines");
      if (follow.checked) box.scrollTop = box.scrollHeight;
    }

    function connect() {
      if (source) source.close();
      box.replaceChildren();
      lines = 0;
      count.textContent = "0 lines";
      var params = new URLSearchParams();
      if (level.value) params.set("level", level.value);
      if (query.value) params.set("q", query.value);
      var url = box.getAttribute("data-stream") + (params.toString() ? "?" + params : "");
      source = new EventSource(url);
      status("connecting", false);
      source.addEventListener("line", function (ev) { add(JSON.parse(ev.data)); });
      source.addEventListener("ready", function () { status("following", true); });
      source.addEventListener("error", function () { status("reconnecting", false); });
      if (history.replaceState) {
        history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
      }
    }

    form.addEventListener("submit", function (ev) { ev.preventDefault(); connect(); });
    level.addEventListener("change", connect);
    query.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(connect, 300);
    });
    connect();
  }

  document.addEventListener("DOMContentLoaded", function () {
    startStream();
    startLog();
  });
})();
