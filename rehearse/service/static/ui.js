/* rehearse web UI: follows running rehearsals on the events stream (server-sent events).
   One EventSource per rehearsal, kept across htmx refreshes of the dashboard. */
(function () {
  "use strict";
  var streams = {};

  function follow(id, after) {
    if (streams[id]) return streams[id];
    var state = { last: null, count: 0, done: false };
    var es = new EventSource("/api/rehearsals/" + id + "/events?after=" + (after || 0));
    state.es = es;
    es.addEventListener("progress", function (e) {
      var ev = JSON.parse(e.data);
      state.last = ev.line;
      state.count += 1;
      document.querySelectorAll('[data-events="' + id + '"]').forEach(function (el) {
        if (el.tagName === "PRE") {
          el.appendChild(document.createTextNode(ev.line + "\n"));
          el.scrollTop = el.scrollHeight;
          var n = document.getElementById("log-count");
          if (n) n.textContent = String(el.textContent.split("\n").length - 1);
        } else {
          el.textContent = ev.line;
        }
      });
    });
    es.addEventListener("end", function (e) {
      state.done = true;
      es.close();
      var status = JSON.parse(e.data).status;
      if (document.getElementById("log")) {
        window.location.reload(); /* the rehearsal page: show the status, approval and report */
      } else {
        document.body.dispatchEvent(new CustomEvent("rehearse:ended", { detail: { id: id, status: status } }));
      }
    });
    streams[id] = state;
    return state;
  }

  function scan(root) {
    root.querySelectorAll("[data-events]").forEach(function (el) {
      if (el.dataset.finished === "yes") return;
      var id = el.dataset.events;
      var state = follow(id, el.dataset.after);
      if (el.tagName !== "PRE" && state.last) el.textContent = state.last;
    });
  }

  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:afterSwap", function (e) { scan(e.target); });
})();
