/* How the dashboard says things: human labels, numbers with thousands separators, rates as
 * percentages, country names, event times, and the semantic-version order. Browser built-ins
 * only (Intl.NumberFormat, Intl.DisplayNames): no data files. Exposed as window.IconiqFormat. */
(function () {
  "use strict";
  const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
  const whole = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
  const signedPercent = new Intl.NumberFormat(undefined,
    { style: "percent", maximumFractionDigits: 1, signDisplay: "exceptZero" });
  const signedNumber = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1, signDisplay: "exceptZero" });
  let regions = null;
  try { regions = new Intl.DisplayNames(undefined, { type: "region" }); } catch (e) { regions = null; }

  /* The summary's metric names: a card's label, how its value reads, and which way is
   * better ("up", "down"; none: neither) when it is compared with the previous period. */
  const CARDS = {
    events: ["Events", "", "up"],
    active_installs_last_7_days: ["Active installs, last 7 days", "", "up"],
    daily_active_installs_last_day: ["Daily active installs (last day)", "", "up"],
    average_daily_active_installs: ["Average daily active installs", "", "up"],
    new_installs: ["New installs", "", "up"],
    success_rate: ["Success rate", "rate", "up"],
    top_command: ["Top command", "text"],
    execution_time_p50_ms: ["Median execution time", "ms", "down"],
    average_prompt_length: ["Average prompt length", "chars"],
  };
  const COLUMNS = {
    p50_ms: "p50 (ms)", p95_ms: "p95 (ms)", p99_ms: "p99 (ms)", execution_time: "Execution time (ms)",
    exec_p50_ms: "Execution p50 (ms)", exec_p90_ms: "Execution p90 (ms)", exec_p99_ms: "Execution p99 (ms)",
    api_p50_ms: "Image API p50 (ms)", api_p90_ms: "Image API p90 (ms)", api_p99_ms: "Image API p99 (ms)",
    week: "Week of (UTC)", output_format: "Output format", os: "OS", ci: "CI",
    error_type: "Error", install_id: "Install", time: "Time (UTC)", day: "Day (UTC)", success: "Result",
    cohort_week: "First seen (week of)", weekly_installs: "Installs", top_error: "Most common error",
  };

  function humanize(name) {
    const text = String(name).replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function isRate(column) { return /(^|_)(rate|share|retention|share_of_failures)$/.test(column); }

  function country(code) {
    if (typeof code !== "string" || !/^[A-Za-z]{2}$/.test(code) || !regions) { return code; }
    try { return regions.of(code.toUpperCase()) || code; } catch (e) { return code; }
  }

  /* A number as the reader's locale writes it (1,234.5), a rate as a percentage. */
  function num(value, column) {
    if (typeof value !== "number" || !isFinite(value)) { return value; }
    if (column && isRate(column)) { return percent.format(value); }
    return number.format(value);
  }

  /* One table cell's text. */
  function cell(column, value) {
    if (value === null || value === undefined || value === "") { return "—"; }
    if (typeof value === "boolean") { return column === "success" ? (value ? "ok" : "failed") : (value ? "yes" : "no"); }
    if (typeof value === "number") { return num(value, column); }
    if (column === "country") { return country(value); }
    return String(value);
  }

  /* A chart's category label (countries by name). */
  function label(column, value) {
    if (value === null || value === undefined) { return "—"; }
    return column === "country" ? country(value) : String(value);
  }

  function card(name, value) {
    const spec = CARDS[name] || [humanize(name)];
    let text;
    if (value === null || value === undefined) { text = "—"; }
    else if (spec[1] === "rate") { text = percent.format(value); }
    else if (spec[1] === "ms") { text = whole.format(value) + " ms"; }
    else if (spec[1] === "chars") { text = number.format(value) + " characters"; }
    else { text = typeof value === "number" ? number.format(value) : String(value); }
    return { label: spec[0], value: text };
  }

  /* How a headline number changed against the previous period: an arrow, the change in
   * words ("+12.5%", or "-2.1 pts" for a rate) and whether that is good or bad news. */
  function delta(name, value, previous, change, kind) {
    const better = (CARDS[name] || [])[2];
    if (typeof change !== "number") {
      if (typeof value === "number" && previous === 0 && value > 0) {
        return { arrow: "▲", text: "up from none", direction: "up", tone: better ? (better === "up" ? "good" : "bad") : "" };
      }
      if (typeof value === "string" || typeof previous === "string") {  // the top command
        return value === previous ? { arrow: "=", text: "unchanged", direction: "flat", tone: "" }
          : { arrow: "↔", text: "changed", direction: "flat", tone: "" };
      }
      return { arrow: "=", text: "no change", direction: "flat", tone: "" };
    }
    if (change === 0) { return { arrow: "=", text: "no change", direction: "flat", tone: "" }; }
    const direction = change > 0 ? "up" : "down";
    const text = kind === "points" ? signedNumber.format(change * 100) + " pts" : signedPercent.format(change);
    return { arrow: change > 0 ? "▲" : "▼", text: text, direction: direction,
      tone: better ? (better === direction ? "good" : "bad") : "" };
  }

  /* "previous 30 days" for a {from, to} range of dates. */
  function periodName(range) {
    const days = Math.round((Date.parse(range.to + "T00:00:00Z") - Date.parse(range.from + "T00:00:00Z")) / 86400000) + 1;
    return days === 1 ? "previous day" : "previous " + whole.format(days) + " days";
  }

  /* "YYYY-MM-DD HH:MM:SS" (UTC) → ms since the epoch, or NaN. */
  function utcMillis(text) {
    return typeof text === "string" ? Date.parse(text.replace(" ", "T") + "Z") : NaN;
  }

  /* Semantic-version order (1.2.0 < 1.9.0 < 1.10.0 < 2.0.0-rc.1 < 2.0.0); anything that is not
   * a version ("(other)", "unknown") sorts before every version. */
  function parseVersion(v) {
    const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+.*)?$/.exec(String(v));
    if (!m) { return null; }
    return { core: [m[1], m[2] || "0", m[3] || "0"].map(Number), pre: m[4] ? m[4].split(".") : [] };
  }

  function comparePre(a, b) {
    if (!a.length || !b.length) { return b.length - a.length; }  // a release after its pre-releases
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (a[i] === undefined) { return -1; }
      if (b[i] === undefined) { return 1; }
      const an = /^\d+$/.test(a[i]), bn = /^\d+$/.test(b[i]);
      if (an && bn && Number(a[i]) !== Number(b[i])) { return Number(a[i]) - Number(b[i]); }
      if (an !== bn) { return an ? -1 : 1; }
      if (a[i] !== b[i]) { return a[i] < b[i] ? -1 : 1; }
    }
    return 0;
  }

  function compareVersions(a, b) {
    const pa = parseVersion(a), pb = parseVersion(b);
    if (!pa || !pb) { return pa ? 1 : pb ? -1 : String(a).localeCompare(String(b)); }
    for (let i = 0; i < 3; i++) {
      if (pa.core[i] !== pb.core[i]) { return pa.core[i] - pb.core[i]; }
    }
    return comparePre(pa.pre, pb.pre);
  }

  window.IconiqFormat = { humanize: humanize, column: function (c) { return COLUMNS[c] || humanize(c); },
    isRate: isRate, num: num, cell: cell, label: label, card: card, country: country,
    utcMillis: utcMillis, compareVersions: compareVersions, delta: delta, periodName: periodName };
})();
