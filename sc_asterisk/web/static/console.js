// The console's only script: live counters from server-sent events, and the buttons that
// call the API with the session's CSRF token. No build chain, no dependency.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";

  function call(method, url) {
    return fetch(url, {method: method, credentials: "same-origin",
                       headers: {"X-CSRF-Token": csrf}})
      .then(function (r) {
        if (r.ok || r.status === 204) { return r; }
        return r.json().then(function (body) { throw new Error(body.error || r.status); });
      });
  }

  function rows(tbody, mapping) {
    var keys = Object.keys(mapping).sort();
    tbody.textContent = "";
    keys.forEach(function (k) {
      var tr = document.createElement("tr");
      [k, String(mapping[k])].forEach(function (text) {
        var td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
  }

  function show(root, figures) {
    root.querySelectorAll("[data-field]").forEach(function (el) {
      var name = el.getAttribute("data-field");
      if (name === "progress") { el.max = figures.total || 1; el.value = figures.done; }
      else if (name === "status") {
        var names = JSON.parse(el.getAttribute("data-labels") || "{}");
        el.textContent = names[figures.status] || figures.status;
      } else if (name === "computed_at") {
        el.textContent = new Date(figures.computed_at).toLocaleTimeString();
      } else if (name in figures) { el.textContent = figures[name]; }
    });
    root.querySelectorAll("[data-table]").forEach(function (tbody) {
      rows(tbody, figures[tbody.getAttribute("data-table")] || {});
    });
  }

  document.querySelectorAll("[data-live]").forEach(function (root) {
    var source = new EventSource(root.getAttribute("data-live"));
    source.addEventListener("status", function (event) { show(root, JSON.parse(event.data)); });
  });

  document.querySelectorAll("[data-action]").forEach(function (button) {
    button.addEventListener("click", function () {
      var confirmText = button.getAttribute("data-confirm");
      if (confirmText && !window.confirm(confirmText)) { return; }
      var name = button.closest("[data-campaign]").getAttribute("data-campaign");
      var out = document.querySelector("[data-action-error]");
      out.textContent = "";
      call("POST", "/api/v1/campaigns/" + encodeURIComponent(name) + "/" +
           button.getAttribute("data-action"))
        .catch(function (err) { out.textContent = err.message; });
    });
  });

  document.querySelectorAll("[data-logout]").forEach(function (button) {
    button.addEventListener("click", function () {
      call("DELETE", "/api/v1/session").finally(function () { window.location = "/login"; });
    });
  });
}());
