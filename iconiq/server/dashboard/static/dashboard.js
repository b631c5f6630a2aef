/* Draws each panel's chart from the JSON the server embedded, formats its table and cards
 * (see format.js), and keeps the live view fresh. Styles are set through the CSSOM only, so
 * the page needs no inline style or script.
 *
 * - Cards compare each headline number with the previous period (arrow, sign and words,
 *   coloured by whether the change is good, never by colour alone).
 * - Partial periods (today, a week not over yet or cut by the range) are drawn dashed
 *   (lines) or hatched (bars), said in a note under the chart, and badged in tables.
 * - Panels with data-filter (countries, OS, models, formats, CI, commands): a click on a
 *   slice, a bar or a row's link filters every page by that value (?country=DE…). */
(function () {
  "use strict";
  const F = window.IconiqFormat;
  const PALETTE = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2",
    "#db2777", "#65a30d", "#ea580c", "#475569"];
  const OTHER_COLOUR = "#94a3b8";
  const NONE_COLOUR = "#cbd5e1";
  // latency-over-time: execution time in blues, API time in oranges (p50 darkest).
  const LATENCY_COLOURS = { exec: ["#1e3a8a", "#2563eb", "#93c5fd"], api: ["#9a3412", "#ea580c", "#fdba74"] };
  const DASH = [6, 4];
  const MAX_SERIES = 8;  // version areas drawn; the rest are summed into "(other)"
  const FUTURE_SLACK_MS = 60_000;  // a client clock this far ahead still counts as "now"
  const charts = new Map();

  function columnOf(data, name) { return data.rows.map(function (r) { return r[name]; }); }

  function yName(panel, data) { return panel.dataset.y || data.columns[1]; }

  function isoDay(date) { return date.toISOString().slice(0, 10); }

  function addDays(iso, n) {
    const d = new Date(iso + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return isoDay(d);
  }

  /* Which rows are partial periods: the server's "partial" column when there is one, else a
   * day that is today (or later), or a week not over yet or cut by the range. */
  function partialRows(data) {
    const x = data.columns[0], f = data.filters || {}, today = isoDay(new Date());
    if (data.columns.indexOf("partial") >= 0) { return data.rows.map(function (r) { return !!r.partial; }); }
    if (x === "day") { return data.rows.map(function (r) { return String(r[x]) >= today; }); }
    if (x === "week" || x === "cohort_week") {
      return data.rows.map(function (r) {
        const start = String(r[x]), end = addDays(start, 6);
        return end >= today || (!!f.from && start < f.from) || (!!f.to && end > f.to);
      });
    }
    return data.rows.map(function () { return false; });
  }

  let hatch = null;
  /* Diagonal stripes in the accent colour: a bar whose period is not complete. */
  function hatched(colour) {
    if (!hatch) {
      const c = document.createElement("canvas");
      c.width = 8; c.height = 8;
      const g = c.getContext("2d");
      g.fillStyle = colour + "33"; g.fillRect(0, 0, 8, 8);
      g.strokeStyle = colour; g.lineWidth = 2;
      g.beginPath(); g.moveTo(-2, 10); g.lineTo(10, -2); g.moveTo(6, 10); g.lineTo(10, 6);
      g.moveTo(-2, 2); g.lineTo(2, -2); g.stroke();
      hatch = g.createPattern(c, "repeat");
    }
    return hatch;
  }

  /* Under a chart with partial periods: what dashed or hatched means (words, not a style). */
  function partialNote(panel, kind, partial) {
    let note = panel.querySelector(".legend-note.partial-note");
    const any = partial.some(Boolean);
    if (!any) { if (note) { note.remove(); } return; }
    if (!note) {
      note = document.createElement("p");
      note.className = "legend-note partial-note";
      const chart = panel.querySelector(".chart");
      chart.after(note);
    }
    const swatch = document.createElement("span");
    swatch.className = "swatch " + (kind === "bar" ? "hatched" : "dashed");
    swatch.setAttribute("aria-hidden", "true");
    const what = kind === "bar" ? "Hatched bar" : "Dashed line";
    note.replaceChildren(swatch, " " + what + ": a period not complete yet (today or this week so far) or cut by the range: its counts are partial.");
  }

  /* Filtering by a clicked value: the URL of this page with ?name=value (an "(other)" row
   * is many values: not a filter). */
  function filterUrl(name, value) {
    if (value === null || value === undefined || value === "(other)" || value === "") { return null; }
    const u = new URL(window.location.href);
    u.searchParams.set(name, String(value));
    u.searchParams.delete("format");
    return u.pathname + "?" + u.searchParams.toString();
  }

  function clickToFilter(panel, options, rows, x) {
    const name = panel.dataset.filter;
    if (!name) { return; }
    options.onClick = function (event, elements) {
      if (!elements.length) { return; }
      const url = filterUrl(name, rows[elements[0].index][x]);
      if (url) { window.location.assign(url); }
    };
    options.onHover = function (event, elements) {
      const ok = elements.length && filterUrl(name, rows[elements[0].index][x]);
      if (event.native && event.native.target) { event.native.target.style.cursor = ok ? "pointer" : "default"; }
    };
  }

  /* Versions stacked oldest at the bottom (semantic order), opaque fills in the legend's colours. */
  function seriesByVersion(data) {
    const x = data.columns[0], s = data.columns[1], y = data.columns[2];
    const labels = [...new Set(columnOf(data, x))].sort();
    const totals = new Map();
    data.rows.forEach(function (r) { totals.set(r[s], (totals.get(r[s]) || 0) + r[y]); });
    const byTotal = [...totals.keys()].sort(function (a, b) { return totals.get(b) - totals.get(a); });
    const kept = new Set(byTotal.length > MAX_SERIES ? byTotal.slice(0, MAX_SERIES - 1) : byTotal);
    const values = new Map();
    data.rows.forEach(function (r) {
      const name = kept.has(r[s]) ? r[s] : "(other)";
      if (!values.has(name)) { values.set(name, new Map()); }
      const byX = values.get(name);
      byX.set(r[x], (byX.get(r[x]) || 0) + r[y]);
    });
    const order = [...values.keys()].sort(F.compareVersions);
    let colour = 0;
    const sets = order.map(function (name, i) {
      const c = name === "(other)" ? OTHER_COLOUR : PALETTE[colour++ % PALETTE.length];
      return { label: name, data: labels.map(function (l) { return values.get(name).get(l) || 0; }),
        backgroundColor: c, borderColor: c, borderWidth: 1, fill: i === 0 ? "origin" : "-1",
        pointRadius: 0, pointHoverRadius: 3, tension: 0.2 };
    });
    return { labels: labels, datasets: sets };
  }

  /* A rate axis fitted to the data (0.85–0.92 must not look flat on 0–1), in percent. */
  function rateAxis(values) {
    const seen = values.filter(function (v) { return typeof v === "number" && isFinite(v); });
    const lo = seen.length ? Math.min(...seen) : 0, hi = seen.length ? Math.max(...seen) : 1;
    const pad = Math.max(0.01, (hi - lo) * 0.15);
    return { beginAtZero: false, suggestedMin: Math.max(0, lo - pad), suggestedMax: Math.min(1, hi + pad),
      ticks: { callback: function (v) { return F.num(v, "rate"); } } };
  }

  function countAxis(values) {
    const whole = values.every(function (v) { return v === null || Number.isInteger(v); });
    return { beginAtZero: true, ticks: { precision: whole ? 0 : undefined,
      callback: function (v) { return F.num(v); } } };
  }

  /* Tooltip lines: the value formatted, then the row's other numbers (events, failures…). */
  function tooltip(data, rows, y, partial) {
    const rest = data.columns.slice(1).filter(function (c) {
      return c !== y && rows.some(function (r) { return typeof r[c] === "number"; });
    });
    return { callbacks: {
      label: function (item) { return " " + item.dataset.label + ": " + F.num(item.raw, y); },
      afterBody: function (items) {
        const r = items.length ? rows[items[0].dataIndex] : null;
        if (!r) { return []; }
        const lines = rest.map(function (c) { return F.column(c) + ": " + F.cell(c, r[c]); });
        return partial && partial[items[0].dataIndex] ? lines.concat(["Partial period: not complete"]) : lines;
      },
    } };
  }

  function config(panel, data) {
    const kind = panel.dataset.chart;
    const base = { responsive: true, maintainAspectRatio: false, animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { display: kind === "doughnut" || kind === "stacked" } } };
    if (kind === "stacked") {
      base.scales = { y: Object.assign(countAxis([]), { stacked: true }),
        x: { ticks: { maxTicksLimit: 12, autoSkip: true } } };
      base.plugins.legend.reverse = true;  // the legend reads top band first, as the chart does
      base.plugins.tooltip = { itemSort: function (a, b) { return b.datasetIndex - a.datasetIndex; },
        callbacks: { label: function (item) { return " " + item.dataset.label + ": " + F.num(item.raw); },
          footer: function (items) {
            return "Total: " + F.num(items.reduce(function (n, i) { return n + i.raw; }, 0));
          } } };
      return { type: "line", data: seriesByVersion(data), options: base };
    }
    if (kind === "lines") { return latencyConfig(panel, data, base); }
    const rows = kind === "hbar" ? data.rows.slice(0, 15) : data.rows;
    const x = data.columns[0], y = yName(panel, data);
    const values = rows.map(function (r) { return r[y]; });
    const partial = kind === "hbar" || kind === "doughnut" ? rows.map(function () { return false; }) : partialRows(data);
    let colour = 0;
    const slices = rows.map(function (r) {
      return r[x] === "(other)" ? OTHER_COLOUR : r[x] === "(none)" ? NONE_COLOUR : PALETTE[colour++ % PALETTE.length];
    });
    const bars = rows.map(function (r, i) { return partial[i] ? hatched(PALETTE[0]) : PALETTE[0] + "cc"; });
    const dataset = { label: F.column(y), data: values,
      backgroundColor: kind === "doughnut" ? slices : bars, borderColor: PALETTE[0],
      pointRadius: 0, pointHoverRadius: 4, tension: 0.2, spanGaps: true,
      segment: { borderDash: function (ctx) { return partial[ctx.p1DataIndex] ? DASH : undefined; } } };
    const labels = rows.map(function (r) { return F.label(x, r[x]); });
    clickToFilter(panel, base, rows, x);
    panel.partial = { kind: kind, rows: partial };
    if (kind === "doughnut") {
      delete base.interaction;
      base.plugins.tooltip = { callbacks: { label: function (item) {
        const share = rows[item.dataIndex].share;
        return " " + F.num(item.raw) + (typeof share === "number" ? " (" + F.num(share, "share") + ")" : "");
      } } };
      return { type: "doughnut", data: { labels: labels, datasets: [dataset] }, options: base };
    }
    const valueAxis = F.isRate(y) && kind === "line" ? rateAxis(values) : countAxis(values);
    if (F.isRate(y)) { valueAxis.ticks.callback = function (v) { return F.num(v, y); }; }
    base.plugins.tooltip = tooltip(data, rows, y, partial);
    if (kind === "hbar") {
      base.indexAxis = "y";
      base.interaction.axis = "y";
      base.scales = { x: valueAxis, y: { ticks: { autoSkip: false } } };
    } else {
      base.scales = { y: valueAxis, x: { ticks: { maxTicksLimit: 12 } } };
    }
    return { type: kind === "line" ? "line" : "bar", data: { labels: labels, datasets: [dataset] },
      options: base };
  }

  /* latency-over-time: p50/p90/p99 of execution and API time, one line each. */
  function latencyConfig(panel, data, base) {
    const x = data.columns[0], rows = data.rows, partial = partialRows(data);
    const series = data.columns.filter(function (c) { return /^(exec|api)_p\d+_ms$/.test(c); });
    const datasets = series.map(function (c) {
      const m = /^(exec|api)_p(\d+)_ms$/.exec(c), k = ["50", "90", "99"].indexOf(m[2]);
      const colour = LATENCY_COLOURS[m[1]][Math.max(0, k)];
      return { label: (m[1] === "exec" ? "Execution" : "Image API") + " p" + m[2],
        data: rows.map(function (r) { return r[c]; }), borderColor: colour, backgroundColor: colour,
        pointRadius: 0, pointHoverRadius: 4, tension: 0.2, spanGaps: true, borderWidth: k === 0 ? 2.5 : 1.5,
        segment: { borderDash: function (ctx) { return partial[ctx.p1DataIndex] ? DASH : undefined; } } };
    });
    base.plugins.legend = { display: true, labels: { boxWidth: 14 } };
    base.scales = { y: countAxis([]), x: { ticks: { maxTicksLimit: 12 } } };
    base.scales.y.title = { display: true, text: "ms" };
    base.plugins.tooltip = { callbacks: {
      label: function (item) { return " " + item.dataset.label + ": " + (item.raw === null ? "—" : F.num(item.raw) + " ms"); },
      afterBody: function (items) {
        const r = items.length ? rows[items[0].dataIndex] : null;
        if (!r) { return []; }
        return ["Measured: " + F.num(r.measured)].concat(partial[items[0].dataIndex] ? ["Partial period"] : []);
      } } };
    panel.partial = { kind: "line", rows: partial };
    return { type: "line", data: { labels: rows.map(function (r) { return r[x]; }), datasets: datasets },
      options: base };
  }

  function draw(panel, data) {
    const canvas = panel.querySelector("canvas");
    if (!canvas || typeof Chart === "undefined") { return; }
    const made = config(panel, data), old = charts.get(panel.id);
    if (old && old.config.type === made.type) {  // a live refresh: keep the chart (and its tooltip)
      old.data = made.data;
      old.options = made.options;
      old.update("none");
    } else {
      if (old) { old.destroy(); }
      charts.set(panel.id, new Chart(canvas, made));
    }
    if (panel.partial) { partialNote(panel, panel.partial.kind === "bar" ? "bar" : "line", panel.partial.rows); }
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

  /* An event time: its date and time, and a "future" badge when the client's clock ran ahead. */
  function timeCell(td, text) {
    td.className = "when";
    td.textContent = F.cell("time", text);
    const at = F.utcMillis(text);
    if (at > Date.now() + FUTURE_SLACK_MS) {
      const badge = document.createElement("span");
      badge.className = "badge future";
      badge.textContent = "future";
      badge.title = "dated after the time this page was drawn: the client's clock is ahead";
      td.append(" ", badge);
      td.parentElement.classList.add("future");
    }
  }

  function fillTable(panel, data) {
    const table = panel.querySelector(".body table:not(.heat)");
    if (!table) { return; }
    const head = table.querySelector("thead tr");
    if (head) {
      head.replaceChildren(...data.columns.map(function (c) {
        const th = document.createElement("th");
        th.textContent = F.column(c);
        if (c !== data.columns[0] && data.rows.some(function (r) { return typeof r[c] === "number"; })) {
          th.className = "num";
        }
        return th;
      }));
    }
    const partial = partialRows(data), name = panel.dataset.filter;
    table.querySelector("tbody").replaceChildren(...data.rows.slice(0, 200).map(function (r, i) {
      const tr = document.createElement("tr");
      data.columns.forEach(function (c, k) {
        const td = document.createElement("td");
        tr.appendChild(td);
        if (c === "time" && data.metric === "recent") { timeCell(td, r[c]); return; }
        const url = k === 0 && name ? filterUrl(name, r[c]) : null;
        if (url) {
          const a = document.createElement("a");
          a.href = url;
          a.className = "filter-link";
          a.title = "Filter every page by this value";
          a.textContent = F.cell(c, r[c]);
          td.appendChild(a);
        } else {
          td.textContent = F.cell(c, r[c]);
        }
        if (k === 0 && partial[i]) {
          const badge = document.createElement("span");
          badge.className = "badge partial";
          badge.textContent = "partial";
          badge.title = "this period is not complete (today or this week so far, or cut by the range)";
          td.append(" ", badge);
          tr.classList.add("partial");
        }
        if (typeof r[c] === "number") { td.className = "num"; }
      });
      return tr;
    }));
  }

  function fillCards(panel, data) {
    const cards = panel.querySelector(".cards");
    if (!cards) { return; }
    const period = data.previous_period ? F.periodName(data.previous_period) : null;
    cards.replaceChildren(...data.rows.map(function (r) {
      const name = r[data.columns[0]];
      const shown = F.card(name, r[data.columns[1]]);
      const div = document.createElement("div");
      div.className = "card";
      div.dataset.metric = name;
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = shown.label;
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = shown.value;
      div.append(label, value);
      if (period && "previous" in r && (r.previous === null || r.previous === undefined)) {
        const vs = document.createElement("span");
        vs.className = "vs";
        vs.textContent = "no data in the " + period;
        div.append(vs);
      } else if (period && "previous" in r) {
        const d = F.delta(name, r.value, r.previous, r.change, r.change_kind);
        const delta = document.createElement("span");
        delta.className = "delta " + d.direction + (d.tone ? " " + d.tone : "");
        const arrow = document.createElement("span");
        arrow.className = "arrow";
        arrow.setAttribute("aria-hidden", "true");
        arrow.textContent = d.arrow;
        const text = document.createElement("span");
        text.className = "change";
        text.textContent = d.text;
        const vs = document.createElement("span");
        vs.className = "vs";
        vs.textContent = "vs " + F.card(name, r.previous).value + " in the " + period;
        delta.append(arrow, " ", text);
        div.append(delta, vs);
      }
      return div;
    }));
  }

  /* Heatmap and cohort cells: their shade from data-v (no inline style attribute). */
  function shade(panel) {
    panel.querySelectorAll("[data-v]").forEach(function (el) {
      const v = Number(el.dataset.v) || 0;
      el.style.setProperty("--v", String(v));
      el.classList.toggle("dark", v > 0.55);
    });
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
    document.querySelectorAll(".chip[data-filter=country] .chip-value").forEach(function (el) {
      el.textContent = F.country(el.textContent);
    });
    main.querySelectorAll(".panel").forEach(function (panel) {
      const data = JSON.parse(panel.querySelector("script.panel-data").textContent);
      fillTable(panel, data);
      fillCards(panel, data);
      shade(panel);
      const body = panel.querySelector(".body");
      if (body && !body.hidden) { draw(panel, data); }
    });
    if (main.dataset.section === "live") {
      window.setInterval(function () { refreshLive(main); }, 5000);
    }
  });
})();
