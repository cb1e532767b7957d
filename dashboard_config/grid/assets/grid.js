// The grid of one tab: rows (tests) by columns (builds, newest first), drawn from the JSON in the page.
// No network: everything this needs is in the page, so it works from file://.
(function () {
  "use strict";
  const t0 = performance.now();
  const data = JSON.parse(document.getElementById("grid-data").textContent);
  const grid = document.getElementById("grid");
  const detail = document.getElementById("detail");
  const filter = document.getElementById("filter");
  const failingOnly = document.getElementById("failing");
  const count = document.getElementById("count");
  const classes = data.statuses.map((s) => "s-" + s.toLowerCase().replace(/_/g, "-"));
  const failingStatus = new Set(["FAIL", "TOOL_FAIL", "FLAKY"].map((s) => data.statuses.indexOf(s)));
  const ROW = 19; // header row height (18px) + border-spacing (1px): each header row sticks below the last

  function esc(text) {
    return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }

  function utc(seconds, from, to) {
    if (!seconds) return "";
    return new Date(seconds * 1000).toISOString().slice(from === undefined ? 0 : from, to === undefined ? 16 : to).replace("T", " ");
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 60) return seconds.toFixed(1) + " s";
    const m = Math.floor(seconds / 60);
    return m < 60 ? m + " min " + Math.round(seconds % 60) + " s" : Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function headerRow(index, label, values) {
    const top = ' style="top:' + index * ROW + 'px"';
    let html = '<tr class="head"><th class="name corner"' + top + ">" + esc(label) + "</th>";
    for (const value of values) html += "<th" + top + ">" + value + "</th>";
    return html + "</tr>";
  }

  function render() {
    const cols = data.columns;
    let html = '<table id="table"><thead>';
    html += headerRow(0, "date", cols.map((c) => esc(utc(c.started, 5, 10))));
    html += headerRow(1, "time (UTC)", cols.map((c) => esc(utc(c.started, 11, 16))));
    html += headerRow(2, "build", cols.map((c, j) => '<a class="build" href="' + esc(data.links[j].artifacts) + '">' + esc(c.build) + "</a>"));
    data.headers.forEach((h, k) => {
      html += headerRow(k + 3, h, cols.map((c) => esc(c.extra[k] || "")));
    });
    html += "</thead><tbody>";
    const parts = [];
    data.rows.forEach((row, i) => {
      let tr = '<tr data-r="' + i + '"><th class="name" title="' + esc(row.name) + '"><bdi>' + esc(row.name) + "</bdi></th>";
      const cells = row.cells;
      for (let j = 0; j < cells.length; j++) {
        const c = cells[j];
        tr += c ? '<td class="' + classes[c[0]] + '" data-c="' + j + '">' + esc(c[1]) + "</td>" : "<td></td>";
      }
      parts.push(tr + "</tr>");
    });
    grid.innerHTML = html + parts.join("") + "</tbody></table>";
  }

  const failing = data.rows.map((row) => row.cells.some((c) => c && failingStatus.has(c[0])));

  function applyFilter() {
    const text = filter.value.trim();
    let pattern = null;
    try {
      pattern = text ? new RegExp(text, "i") : null;
    } catch (e) {
      pattern = null;
    }
    const lower = text.toLowerCase();
    const trs = grid.querySelectorAll("tbody tr");
    let shown = 0;
    trs.forEach((tr, i) => {
      const name = data.rows[i].name;
      const match = !text || (pattern ? pattern.test(name) : name.toLowerCase().includes(lower));
      const show = match && (!failingOnly.checked || failing[i]);
      tr.hidden = !show;
      if (show) shown++;
    });
    count.textContent = shown + " of " + data.rows.length + " tests";
  }

  function describe(r, j) {
    const c = data.rows[r].cells[j];
    const lines = [data.statuses[c[0]] + (c[1] ? " (" + c[1] + ")" : "")];
    if (c[2]) lines.push(c[2]);
    if (c[3] !== null && c[3] !== undefined) lines.push("duration: " + duration(c[3]));
    for (const [name, value] of Object.entries(c[4] || {})) if (name !== "test-duration-minutes") lines.push(name + ": " + value);
    return lines.join("\n");
  }

  function show(r, j) {
    const c = data.rows[r].cells[j];
    const col = data.columns[j];
    detail.innerHTML =
      '<button id="close" title="close">×</button>' +
      "<h2>" + esc(data.rows[r].name) + "</h2>" +
      '<p class="status ' + classes[c[0]] + '">' + esc(data.statuses[c[0]]) + (c[1] ? " · " + esc(c[1]) : "") + "</p>" +
      '<pre class="message">' + esc(c[2] || "(no message)") + "</pre>" +
      "<dl><dt>duration</dt><dd class=\"duration\">" + esc(duration(c[3]) || "-") + "</dd>" +
      Object.entries(c[4] || {}).filter(([n]) => n !== "test-duration-minutes")
        .map(([n, v]) => '<dt class="metric">' + esc(n) + "</dt><dd>" + esc(v) + "</dd>").join("") +
      "<dt>build</dt><dd>" + esc(col.build) + " · " + esc(utc(col.started)) + " UTC</dd></dl>" +
      '<p><a class="log" href="' + esc(data.links[j].log) + '">build-log.txt</a> · ' +
      '<a class="artifacts" href="' + esc(data.links[j].artifacts) + '">artifacts/</a></p>';
    detail.hidden = false;
  }

  render();
  applyFilter();
  filter.addEventListener("input", applyFilter);
  failingOnly.addEventListener("change", applyFilter);
  grid.addEventListener("mouseover", (event) => {
    const td = event.target.closest("td[data-c]");
    if (td && !td.title) td.title = describe(+td.parentNode.dataset.r, +td.dataset.c);
  });
  grid.addEventListener("click", (event) => {
    const td = event.target.closest("td[data-c]");
    if (td) show(+td.parentNode.dataset.r, +td.dataset.c);
  });
  detail.addEventListener("click", (event) => {
    if (event.target.id === "close") detail.hidden = true;
  });
  void grid.offsetHeight; // lay the table out now, so the time below includes it
  window.gridRenderMs = performance.now() - t0;
  requestAnimationFrame(() => setTimeout(() => (window.gridPaintedAt = performance.now())));
  document.body.dataset.ready = "true";
})();
