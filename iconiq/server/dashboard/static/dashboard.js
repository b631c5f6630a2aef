/* Draws each panel's chart from the JSON the server embedded, and keeps the live view fresh. */
(function () {
  "use strict";
  const PALETTE = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2",
    "#db2777", "#65a30d", "#ea580c", "#475569"];
  const charts = new Map();

  function columnOf(data, name) { return data.rows.map(function (r) { return r[name]; }); }

  function yName(panel, data) { return panel.dataset.y || data.columns[1]; }

  function seriesByVersion(data) {
    const x = data.columns[0], s = data.columns[1], y = data.columns[2];
    const labels = [...new Set(columnOf(data, x))].sort();
    const totals = new Map();
    data.rows.forEach(function (r) { totals.set(r[s], (totals.get(r[s]) || 0) + r[y]); });
    const top = [...totals.keys()].sort(function (a, b) { return totals.get(b) - totals.get(a); }).slice(0, 8);
    const sets = top.map(function (name, i) {
      const byX = new Map();
      data.rows.forEach(function (r) { if (r[s] === name) { byX.set(r[x], r[y]); } });
      return { label: name, data: labels.map(function (l) { return byX.get(l) || 0; }),
        backgroundColor: PALETTE[i % PALETTE.length] + "99", borderColor: PALETTE[i % PALETTE.length],
        fill: true, pointRadius: 0, tension: 0.2 };
    });
    return { labels: labels, datasets: sets };
  }

  function config(panel, data) {
    const kind = panel.dataset.chart;
    const base = { responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { display: kind === "doughnut" || kind === "stacked" } } };
    if (kind === "stacked") {
      base.scales = { y: { stacked: true, beginAtZero: true }, x: { ticks: { maxTicksLimit: 12 } } };
      return { type: "line", data: seriesByVersion(data), options: base };
    }
    const rows = kind === "hbar" ? data.rows.slice(0, 15) : data.rows;
    const x = data.columns[0], y = yName(panel, data);
    const dataset = { label: y.replace(/_/g, " "), data: rows.map(function (r) { return r[y]; }),
      backgroundColor: kind === "doughnut" ? PALETTE : PALETTE[0] + "cc", borderColor: PALETTE[0],
      pointRadius: 0, tension: 0.2, spanGaps: true };
    const labels = rows.map(function (r) { return String(r[x]); });
    if (kind === "doughnut") {
      return { type: "doughnut", data: { labels: labels, datasets: [dataset] }, options: base };
    }
    base.scales = { y: { beginAtZero: true }, x: { ticks: { maxTicksLimit: 12 } } };
    if (kind === "hbar") { base.indexAxis = "y"; base.scales = { x: { beginAtZero: true } }; }
    return { type: kind === "line" ? "line" : "bar", data: { labels: labels, datasets: [dataset] },
      options: base };
  }

  function draw(panel, data) {
    const canvas = panel.querySelector("canvas");
    if (!canvas || typeof Chart === "undefined") { return; }
    const old = charts.get(panel.id);
    if (old) { old.destroy(); }
    charts.set(panel.id, new Chart(canvas, config(panel, data)));
    panel.dataset.drawn = "1";
  }

  function isEmpty(data) {
    return !data.rows.some(function (r) {
      return data.columns.slice(1).some(function (c) {
        const v = r[c];
        return (typeof v === "number" && v !== 0) || (typeof v === "string" && v !== "" && data.columns[0] === "time");
      });
    });
  }

  function fillTable(panel, data) {
    const body = panel.querySelector("tbody");
    if (!body) { return; }
    body.replaceChildren(...data.rows.slice(0, 200).map(function (r) {
      const tr = document.createElement("tr");
      data.columns.forEach(function (c) {
        const td = document.createElement("td");
        td.textContent = r[c] === null || r[c] === undefined ? "—" : String(r[c]);
        tr.appendChild(td);
      });
      return tr;
    }));
  }

  function show(panel, data) {
    const empty = isEmpty(data);
    panel.querySelector(".empty").hidden = !empty;
    const body = panel.querySelector(".body");
    if (body) { body.hidden = empty && panel.closest("main").dataset.section !== "live"; }
    draw(panel, data);
    fillTable(panel, data);
    const ms = panel.querySelector(".ms");
    if (ms) { ms.textContent = data.compute_ms + " ms"; }
  }

  function refreshLive(main) {
    const query = new URLSearchParams(main.dataset.query);
    query.delete("from"); query.delete("to");
    main.querySelectorAll(".panel").forEach(function (panel) {
      fetch("/v1/metrics/" + panel.dataset.metric + "?" + query.toString(), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) { show(panel, data); panel.dataset.updated = String(Date.now()); } })
        .catch(function () { /* the next tick tries again */ });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const main = document.querySelector("main.grid");
    if (!main) { return; }
    main.querySelectorAll(".panel").forEach(function (panel) {
      const data = JSON.parse(panel.querySelector("script.panel-data").textContent);
      const body = panel.querySelector(".body");
      if (body && !body.hidden) { draw(panel, data); }
    });
    if (main.dataset.section === "live") {
      window.setInterval(function () { refreshLive(main); }, 5000);
    }
  });
})();
