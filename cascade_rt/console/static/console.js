// cascade-rt console: live updates over Server-Sent Events, sortable tables, filters, actions.
(function () {
  "use strict";
  var sort = {}; // table index -> {col, dir}
  var live = document.getElementById("live");
  var state = document.getElementById("live-state");
  var status = document.getElementById("status");
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function cellValue(row, col) {
    var cell = row.cells[col];
    if (!cell) return "";
    var v = cell.getAttribute("data-value") || cell.textContent.trim();
    return v;
  }
  function applySort() {
    var tables = live.querySelectorAll("table.grid");
    Object.keys(sort).forEach(function (i) {
      var table = tables[i], s = sort[i];
      if (!table || !table.tBodies[0]) return;
      var head = table.tHead.rows[0].cells[s.col];
      var numeric = head.getAttribute("data-sort") === "num";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.classList.remove("asc", "desc"); });
      head.classList.add(s.dir > 0 ? "asc" : "desc");
      var rows = Array.prototype.slice.call(table.tBodies[0].rows);
      rows.sort(function (a, b) {
        var x = cellValue(a, s.col), y = cellValue(b, s.col);
        if (numeric) { x = parseFloat(x.replace(/[^0-9.\-]/g, "")) || 0; y = parseFloat(y.replace(/[^0-9.\-]/g, "")) || 0; }
        return (x < y ? -1 : x > y ? 1 : 0) * s.dir;
      });
      rows.forEach(function (r) { table.tBodies[0].appendChild(r); });
    });
  }
  function applyFilter() {
    var input = document.getElementById("filter");
    if (!input) return;
    var q = input.value.toLowerCase();
    live.querySelectorAll(input.getAttribute("data-filter") + " tbody tr").forEach(function (row) {
      row.classList.toggle("hidden", q !== "" && row.textContent.toLowerCase().indexOf(q) < 0);
    });
  }
  live.addEventListener("click", function (ev) {
    var th = ev.target.closest("th[data-sort]");
    if (th) {
      var tables = Array.prototype.slice.call(live.querySelectorAll("table.grid"));
      var i = tables.indexOf(th.closest("table"));
      var col = th.cellIndex, prev = sort[i];
      sort[i] = { col: col, dir: prev && prev.col === col ? -prev.dir : 1 };
      applySort();
      return;
    }
    var button = ev.target.closest("button[data-action]");
    if (button) {
      var question = button.getAttribute("data-confirm");
      if (question && !window.confirm(question)) return;
      button.disabled = true;
      fetch(button.getAttribute("data-action"), {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" }, body: "{}"
      }).then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (res) {
          status.className = res.ok ? "" : "error";
          status.textContent = res.ok ? "Done: " + JSON.stringify(res.body) : "Refused: " + res.body.error;
        })
        .catch(function (err) { status.className = "error"; status.textContent = "Failed: " + err; })
        .then(function () { button.disabled = false; });
    }
  });
  var filter = document.getElementById("filter");
  if (filter) filter.addEventListener("input", applyFilter);
  var url = document.body.getAttribute("data-events");
  if (url && window.EventSource) {
    var source = new EventSource(url);
    source.addEventListener("open", function () { state.textContent = "live"; state.classList.add("on"); });
    source.addEventListener("error", function () { state.textContent = "reconnecting…"; state.classList.remove("on"); });
    source.addEventListener("live", function (ev) {
      var data = JSON.parse(ev.data);
      document.body.setAttribute("data-updates", String(1 + Number(document.body.getAttribute("data-updates") || 0)));
      if (data.html === undefined) return;
      live.innerHTML = data.html;
      applySort();
      applyFilter();
    });
  }
})();
