/* Releases: the release-health panel (regressions first, then the versions and every
 * command compared with the version before), and a Chart.js plugin that marks release dates
 * (each version's first day, from the page's #release-markers) on every chart whose x axis
 * is days or weeks. Loaded after chart.umd.js and format.js and before dashboard.js: it
 * registers its plugin with Chart.js at once, so every chart dashboard.js makes, whenever it
 * makes it, has the markers, and dashboard.js needs no change. */
(function () {
  "use strict";
  const F = window.IconiqFormat;
  const DATE = /^\d{4}-\d{2}-\d{2}$/;
  const DAY_MS = 86400000;
  const LINE = "#111827";  // near black: no chart series uses it
  const LABEL_GAP = 46;  // px: closer release labels are skipped (their lines are kept)
  const LABEL_ROOM = 15;  // px above the plot for the labels
  let releases = null;

  function markerList() {
    if (releases === null) {
      const el = document.getElementById("release-markers");
      try { releases = el ? JSON.parse(el.textContent) : []; } catch (e) { releases = []; }
      if (!Array.isArray(releases)) { releases = []; }
    }
    return releases;
  }

  function dayNumber(text) { return Math.floor(Date.parse(text + "T00:00:00Z") / DAY_MS); }

  /* The chart's x values as dates: its labels, or (when labels were made human) the panel's
   * first column when that holds one date per label. */
  function datesOf(chart) {
    const labels = chart.data.labels || [];
    if (labels.length >= 2 && labels.every(function (l) { return DATE.test(l); })) { return labels; }
    const panel = chart.canvas.closest(".panel");
    const json = panel && panel.querySelector("script.panel-data");
    if (!json) { return null; }
    try {
      const data = JSON.parse(json.textContent);
      const x = data.columns[0];
      const days = [...new Set(data.rows.map(function (r) { return r[x]; }))].sort();
      if (days.length === labels.length && days.every(function (d) { return DATE.test(d); })) { return days; }
    } catch (e) { return null; }
    return null;
  }

  /* Where each release falls: the index of the day (or week) that holds its first day. */
  function placed(chart) {
    const list = markerList();
    if (!list.length || chart.config.type === "doughnut" || chart.options.indexAxis === "y") { return []; }
    const dates = datesOf(chart);
    if (!dates || dates.length < 2) { return []; }
    const days = dates.map(dayNumber);
    const step = days[1] - days[0];
    const out = [];
    list.forEach(function (r) {
      const d = dayNumber(r.day);
      let i = -1;
      for (let k = 0; k < days.length && days[k] <= d; k++) { i = k; }
      if (i >= 0 && d - days[i] < step) { out.push({ version: r.version, day: r.day, index: i }); }
    });
    return out;
  }

  const markers = {
    id: "iconiqReleases",
    /* Room for the version labels between the plot and anything above it (a legend): an
     * empty layout box (Chart.layouts.addBox) of weight 0, next to the plot. */
    beforeLayout: function (chart) {
      if (!chart.$releaseRoom) {
        chart.$releaseRoom = { position: "top", weight: 0, fullSize: false, room: 0, options: {},
          left: 0, top: 0, right: 0, bottom: 0, width: 0, height: 0,
          isHorizontal: function () { return true; },
          update: function (maxWidth) { this.width = maxWidth; this.height = this.room; },
          draw: function () {} };
        Chart.layouts.addBox(chart, chart.$releaseRoom);
      }
      chart.$releaseRoom.room = placed(chart).length ? LABEL_ROOM : 0;
    },
    afterDatasetsDraw: function (chart) {
      const found = placed(chart);
      chart.$releases = [];
      if (!found.length || !chart.scales.x) { return; }
      const ctx = chart.ctx, area = chart.chartArea;
      let lastLabel = -Infinity;
      ctx.save();
      ctx.strokeStyle = LINE;
      ctx.fillStyle = LINE;
      ctx.lineWidth = 2;
      ctx.setLineDash([4, 3]);
      ctx.font = "600 11px system-ui, sans-serif";
      ctx.textBaseline = "top";
      found.forEach(function (m) {
        const x = Math.round(chart.scales.x.getPixelForValue(m.index));  // 2 px wide: crisp
        if (x < area.left - 1 || x > area.right + 1) { return; }
        ctx.beginPath();
        ctx.moveTo(x, area.top - LABEL_ROOM + 13);
        ctx.lineTo(x, area.bottom);
        ctx.stroke();
        const text = m.version, width = ctx.measureText(text).width;
        const labelled = x - lastLabel >= LABEL_GAP;
        if (labelled) {
          const left = Math.min(Math.max(x + 3, area.left), area.right - width);
          ctx.fillText(text, left, area.top - LABEL_ROOM + 2);
          lastLabel = x;
        }
        chart.$releases.push({ version: m.version, day: m.day, index: m.index, x: x, labelled: labelled });
      });
      ctx.restore();
    },
  };
  if (typeof Chart !== "undefined") { Chart.register(markers); }

  /* --- the Releases page ---------------------------------------------------------------- */

  function pct(v) { return typeof v === "number" ? F.num(v, "rate") : "—"; }

  function pValue(p) {
    if (typeof p !== "number") { return "—"; }
    if (p < 0.0001) { return "< 0.0001"; }
    return String(Number(p.toPrecision(2)));
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function badge(text, title) {
    const b = el("span", "badge regression", text);
    if (title) { b.title = title; }
    return b;
  }

  function table(head, rows) {
    const t = el("table");
    const tr = el("tr");
    head.forEach(function (h) { tr.appendChild(el("th", h[1] ? "num" : "", h[0])); });
    t.appendChild(el("thead")).appendChild(tr);
    const body = t.appendChild(el("tbody"));
    rows.forEach(function (r) { body.appendChild(r); });
    return t;
  }

  function row(cells, flagged) {
    const tr = el("tr", flagged ? "regressed" : "");
    cells.forEach(function (c) {
      const td = el("td", c[1] ? "num" : "");
      if (c[0] instanceof Node) { td.appendChild(c[0]); } else { td.textContent = c[0]; }
      if (c[2]) { td.append(" ", c[2]); }
      tr.appendChild(td);
    });
    return tr;
  }

  function sentence(r) {
    return r.command + " fails " + pct(r.failure_rate) + " of " + F.num(r.runs) + " runs in " +
      r.version + ", against " + pct(r.baseline_failure_rate) + " of " + F.num(r.baseline_runs) +
      " in " + r.baseline + " (p " + (r.p_value < 0.0001 ? "" : "= ") + pValue(r.p_value) +
      ", " + (r.test === "fisher" ? "Fisher's exact test" : "z-test") + ")";
  }

  function verdict(box, data) {
    const found = data.regressions || [];
    if (!found.length) {
      box.replaceChildren(el("p", "rel-ok", "No regression: no command fails significantly more " +
        "often in a version than in the one before it."));
      return;
    }
    const alert = el("div", "rel-alert");
    alert.setAttribute("role", "alert");
    alert.appendChild(el("p", "rel-head", found.length === 1 ? "1 regression" : found.length + " regressions"));
    const list = alert.appendChild(el("ul"));
    found.forEach(function (r) {
      const li = list.appendChild(el("li"));
      li.append(badge("Regression"), " ", sentence(r));
    });
    box.replaceChildren(alert);
  }

  /* A version's status: its regressions, or "watch" when a command fails significantly more
   * often but on too few runs to call it a regression. */
  function status(r, data) {
    if (r.regressions > 0) {
      return badge(r.regressions === 1 ? "1 regression" : r.regressions + " regressions");
    }
    const watch = (data.commands || []).some(function (c) {
      return c.version === r.version && c.verdict === "too few runs";
    });
    if (watch) {
      const b = el("span", "badge watch", "watch");
      b.title = "a command fails significantly more often, but on too few runs to call it a regression";
      return b;
    }
    return el("span", "rel-fine", r.baseline ? "ok" : "first shown");
  }

  /* Status comes second, so a phone shows it before the table scrolls. */
  function versions(box, data) {
    const rows = data.rows.map(function (r) {
      return row([[r.version], [status(r, data)], [r.first_seen], [r.last_seen],
        [F.num(r.installs), true], [F.num(r.events), true],
        [pct(r.success_rate) + " (" + pct(r.success_low) + "–" + pct(r.success_high) + ")", true],
        [r.baseline || "—"]], r.regressions > 0);
    });
    box.replaceChildren(table([["Version"], ["Status"], ["First seen"], ["Last seen"],
      ["Installs", true], ["Events", true], ["Success rate (95% interval)", true], ["Previous"]], rows));
  }

  function verdictCell(r) {
    if (r.verdict === "regression") { return badge("Regression"); }
    if (r.verdict === "too few runs") { return el("span", "badge watch", "too few runs"); }
    return el("span", "rel-fine", "ok");
  }

  function commands(box, data) {
    const all = data.commands || [];
    if (!all.length) {
      box.replaceChildren(el("p", "note", "No version and its previous one both ran a command in this range."));
      return;
    }
    const rows = all.map(function (r) {
      return row([[r.version], [r.command], [verdictCell(r)], [F.num(r.runs), true],
        [pct(r.failure_rate), true], [r.baseline], [F.num(r.baseline_runs), true],
        [pct(r.baseline_failure_rate), true],
        [(r.difference > 0 ? "+" : "") + F.num(r.difference * 100) + " pt", true],
        [pValue(r.p_value), true]], r.regression);
    });
    box.replaceChildren(table([["Version"], ["Command"], ["Status"], ["Runs", true],
      ["Failure rate", true], ["Previous"], ["Its runs", true], ["Its failure rate", true],
      ["Change", true], ["p", true]], rows));
  }

  function renderPanels() {
    document.querySelectorAll('.panel[data-metric="release-health"]').forEach(function (panel) {
      const data = JSON.parse(panel.querySelector("script.panel-data").textContent);
      const root = panel.querySelector(".releases");
      if (root) {
        verdict(root.querySelector(".rel-verdict"), data);
        versions(root.querySelector(".rel-versions"), data);
        commands(root.querySelector(".rel-commands .scroll"), data);
        if (data.regressions && data.regressions.length) { root.querySelector(".rel-commands").open = true; }
      }
      panel.dataset.drawn = "1";
    });
  }

  /* After dashboard.js's own DOMContentLoaded work (it formats every panel's table): this
   * panel's tables are built once that has run. */
  document.addEventListener("DOMContentLoaded", function () { window.setTimeout(renderPanels, 0); });
})();
