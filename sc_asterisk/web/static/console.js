// The console's only script: live counters from server-sent events, and the buttons that
// call the API with the session's CSRF token. No build chain, no dependency.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";

  function call(method, url, body, type) {
    var headers = {"X-CSRF-Token": csrf};
    if (body !== undefined) { headers["Content-Type"] = type || "application/json"; }
    if (body !== undefined && !type) { body = JSON.stringify(body); }
    return fetch(url, {method: method, credentials: "same-origin", headers: headers, body: body})
      .then(function (r) {
        if (r.ok || r.status === 204) { return r; }
        return r.json().then(function (b) { throw new Error(b.error || r.status); });
      });
  }

  function lines(text) {
    return text.split(/[\n;]/).map(function (l) { return l.trim(); })
      .filter(function (l) { return l; });
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
      } else if (name in figures) {
        el.textContent = figures[name] === null ? "\u2014" : figures[name];
      }
    });
    root.querySelectorAll("img[data-retention]").forEach(function (img) {
      // the server redraws it at most every 30 s: asking more often costs nothing
      var at = Date.now();
      if (!img.dataset.at || at - Number(img.dataset.at) >= 30000) {
        img.dataset.at = String(at);
        img.src = img.src.split("?")[0] + "?t=" + at;
      }
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

  // The create-campaign page: upload a prompt (the file is the request body), then create.
  document.querySelectorAll("[data-upload]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var out = form.querySelector("[data-upload-error]");
      var file = form.elements.file.files[0], name = form.elements.name.value;
      out.textContent = "";
      call("PUT", "/api/v1/audio/" + encodeURIComponent(name) + "?filename=" +
           encodeURIComponent(file.name), file, "application/octet-stream")
        .then(function (r) { return r.json(); })
        .then(function (audio) {
          document.querySelectorAll("select[data-audio]").forEach(function (select) {
            var option = document.createElement("option");
            option.value = audio.name;
            option.textContent = audio.name + " (" + (audio.duration_ms / 1000).toFixed(1) + " s)";
            select.appendChild(option);
          });
          form.reset();
        })
        .catch(function (err) { out.textContent = err.message; });
    });
  });

  document.querySelectorAll("[data-create]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var f = form.elements, out = form.querySelector("[data-create-error]");
      var body = {name: f.name.value, message: f.message.value, notice: f.notice.value,
                  optout_intro: f.optout_intro.value || null,
                  compliance_profile: f.compliance_profile.value, trunk: f.trunk.value,
                  caller_id: f.caller_id.value || null, cps: Number(f.cps.value),
                  max_channels: Number(f.max_channels.value), windows: lines(f.windows.value)};
      out.textContent = "";
      call("POST", "/api/v1/campaigns", body)
        .then(function () { window.location = "/campaigns/" + encodeURIComponent(body.name); })
        .catch(function (err) { out.textContent = err.message; });
    });
  });

  // The campaign page's audience: a dry-run count as the filters are typed, then queue.
  document.querySelectorAll("[data-queue]").forEach(function (form) {
    var url = "/api/v1/campaigns/" + encodeURIComponent(form.getAttribute("data-queue")) +
              "/queue";
    var count = form.querySelector("[data-audience-count]");
    var out = form.querySelector("[data-queue-error]");
    var timer = null, asked = 0;
    function dryRun() {
      var mine = ++asked;
      call("POST", url, {where: lines(form.elements.where.value), dry_run: true})
        .then(function (r) { return r.json(); })
        .then(function (result) {
          if (mine !== asked) { return; }
          out.textContent = ""; count.textContent = result.queued;
        })
        .catch(function (err) {
          if (mine !== asked) { return; }
          count.textContent = "?"; out.textContent = err.message;
        });
    }
    form.elements.where.addEventListener("input", function () {
      clearTimeout(timer); timer = setTimeout(dryRun, 300);
    });
    dryRun();
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      call("POST", url, {where: lines(form.elements.where.value)})
        .then(function (r) { return r.json(); })
        .then(function (result) {
          form.querySelector("[data-queued]").textContent = result.queued;
        })
        .catch(function (err) { out.textContent = err.message; });
    });
  });

  // A small CSV reader for the rejects file (quoted cells, doubled quotes, CRLF).
  function parseCsv(text) {
    var rows = [], row = [], cell = "", quoted = false;
    for (var i = 0; i < text.length; i++) {
      var c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
        else if (c === '"') { quoted = false; }
        else { cell += c; }
      } else if (c === '"') { quoted = true; }
      else if (c === ",") { row.push(cell); cell = ""; }
      else if (c === "\n" || c === "\r") {
        if (c === "\r" && text[i + 1] === "\n") { i++; }
        row.push(cell); rows.push(row); row = []; cell = "";
      } else { cell += c; }
    }
    if (cell || row.length) { row.push(cell); rows.push(row); }
    return rows;
  }

  // Contacts: upload the file, then poll the import job until it is complete.
  document.querySelectorAll("[data-import]").forEach(function (form) {
    var box = document.querySelector("[data-import-job]");
    var bar = box.querySelector("[data-import-progress]");
    var state = box.querySelector("[data-import-state]");
    var names = JSON.parse(state.getAttribute("data-labels") || "{}");
    var out = form.querySelector("[data-import-error]");
    function showRejects(job) {
      var url = "/api/v1/contacts/imports/" + job.id + "/rejects.csv";
      box.querySelector("[data-rejects-link]").href = url;
      fetch(url, {credentials: "same-origin"}).then(function (r) { return r.text(); })
        .then(function (text) {
          var tbody = box.querySelector("[data-rejects-rows]");
          tbody.textContent = "";
          parseCsv(text).slice(1, 201).forEach(function (cells) {
            var tr = document.createElement("tr");
            [cells[0], cells[1], cells.slice(2).join(" | ")].forEach(function (v) {
              var td = document.createElement("td"); td.textContent = v || ""; tr.appendChild(td);
            });
            tbody.appendChild(tr);
          });
          box.querySelector("[data-rejects]").hidden = false;
        });
    }
    function show(job) {
      bar.max = job.total || 1; bar.value = job.done;
      state.textContent = (names[job.state] || job.state) + (job.error ? ": " + job.error : "");
      var s = job.summary || {};
      var rejected = Object.keys(s.rejected || {}).reduce(function (n, k) {
        return n + s.rejected[k]; }, 0);
      var figures = {rows: s.rows, created: s.created, updated: s.updated,
                     unchanged: s.unchanged, rejected: rejected};
      box.querySelectorAll("[data-import-count]").forEach(function (dd) {
        var v = figures[dd.getAttribute("data-import-count")];
        dd.textContent = v === undefined ? "…" : v;
      });
      if (job.state === "running") {
        setTimeout(function () {
          call("GET", "/api/v1/contacts/imports/" + job.id)
            .then(function (r) { return r.json(); }).then(show)
            .catch(function (err) { out.textContent = err.message; });
        }, 300);
      } else if (job.rejects) { showRejects(job); }
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var f = form.elements, file = f.file.files[0];
      var query = "filename=" + encodeURIComponent(file.name) + "&region=" +
                  encodeURIComponent(f.region.value);
      if (f.list.value) { query += "&list=" + encodeURIComponent(f.list.value); }
      if (f.legal_basis.value) { query += "&legal_basis=" + encodeURIComponent(f.legal_basis.value); }
      out.textContent = "";
      box.hidden = false; box.querySelector("[data-rejects]").hidden = true;
      call("POST", "/api/v1/contacts/imports?" + query, file, "application/octet-stream")
        .then(function (r) { return r.json(); }).then(show)
        .catch(function (err) { box.hidden = true; out.textContent = err.message; });
    });
  });

  // Nodes and trunks: each node's state, asked now, every 10 s while the page is open.
  var nodeRows = document.querySelectorAll("[data-node-state]");
  var trunkRows = document.querySelectorAll("[data-trunk-state]");
  function refreshTelecom() {
    var labelsEl = document.querySelector("tbody[data-labels]");
    var words = labelsEl ? JSON.parse(labelsEl.getAttribute("data-labels")) : {};
    nodeRows.forEach(function (tr) {
      call("GET", "/api/v1/nodes/" + encodeURIComponent(tr.getAttribute("data-node-state")) +
           "/state").then(function (r) { return r.json(); }).then(function (st) {
        var ami = tr.querySelector('[data-state="ami"]');
        ami.textContent = st.ami_up ? words.up : words.down + " (" + st.error + ")";
        ami.className = st.ami_up ? "" : "error";
        tr.querySelector('[data-state="channels"]').textContent =
          st.channels === null ? "?" : st.channels;
      });
    });
    trunkRows.forEach(function (tr) {
      var cell = tr.querySelector('[data-state="registration"]');
      if (cell.textContent !== "…" && !cell.hasAttribute("data-asked")) { return; }
      cell.setAttribute("data-asked", "");
      call("GET", "/api/v1/trunks/" + encodeURIComponent(tr.getAttribute("data-trunk-state")) +
           "/state").then(function (r) { return r.json(); }).then(function (st) {
        cell.textContent = Object.keys(st.nodes).map(function (n) {
          var s = st.nodes[n];
          return n + ": " + (s.ami_up ? s.registration : words.down);
        }).join(", ") || "—";
      });
    });
  }
  if (nodeRows.length || trunkRows.length) { refreshTelecom(); setInterval(refreshTelecom, 10000); }

  document.querySelectorAll("[data-logout]").forEach(function (button) {
    button.addEventListener("click", function () {
      call("DELETE", "/api/v1/session").finally(function () { window.location = "/login"; });
    });
  });
}());
