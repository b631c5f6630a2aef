"""The dashboard reads right in headless Chromium at a laptop's 1440 px and a phone's 390 px.

Every page fits its width (no horizontal scroll) with no console error; a tooltip answers
anywhere over a line or bar chart, not only on a point; KPI cards carry human labels and
formatted numbers; countries are named; version areas stack oldest version at the bottom in
the legend's own (opaque) colours; the success-rate axis fits the data and reads in percent;
the heatmap shows all 24 hours; the live page has no range controls and dates every event,
flagging those from a clock that runs ahead. KPI cards compare with the previous period;
partial periods are dashed, hatched and badged; a click on a country bar, an OS slice or a
model's table row filters every page (URL, chip, numbers), and the chip removes it.
Screenshots: ``artifacts/layout/``.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.analytics.seed import DAY_MS, event, install, row
from tests.support.server import ServerHandle, seeded_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "layout"
PAGES = ["/", "/adoption", "/usage", "/performance", "/releases", "/growth", "/live"]
# Every breakdown filter at once: the chips must fit a phone too.
FILTERED = "/usage?country=DE&os=linux&model=dall-e-3&output_format=(none)&ci=interactive"
SIZES = {"laptop": (1440, 900), "phone": (390, 844)}
VERSIONS = ["2.0.0", "1.10.0", "1.2.0", "2.0.0-rc.1", "1.9.0"]  # semantic order: see below
IN_ORDER = ["1.2.0", "1.9.0", "1.10.0", "2.0.0-rc.1", "2.0.0"]
CHARTED = (
    ".kind-line, .kind-lines, .kind-bar, .kind-hbar, .kind-stacked"  # the charts with an x axis
)
HOUR_MS = 3_600_000
FUTURE_MS = 20 * HOUR_MS  # a client whose clock is 20 hours ahead
STAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")

# Where to hover over a chart: between the two middle points of its index axis (nearer the
# first), at the far edge of the value axis, where no point, line or bar is.
BETWEEN_POINTS = """(c) => {
  const ch = Chart.getChart(c); const across = ch.options.indexAxis === 'y';
  const axis = across ? ch.scales.y : ch.scales.x; const n = ch.data.labels.length;
  const i = Math.max(0, Math.floor(n / 2) - 1);
  const a = axis.getPixelForValue(i), b = axis.getPixelForValue(i + 1);
  const at = a + (b - a) * 0.4, area = ch.chartArea;
  return { index: i, x: across ? area.right - 3 : at, y: across ? at : area.top + 3 };
}"""
TOOLTIP = """(c) => { const t = Chart.getChart(c).tooltip;
  return { active: t.getActiveElements().map((e) => e.index), opacity: t.opacity }; }"""
# The version chart: dataset order and colours, legend colours, and the painted colour in
# the middle of each band (device pixels) at the middle day.
VERSION_AREAS = """(c) => {
  const ch = Chart.getChart(c), ctx = c.getContext('2d'), r = window.devicePixelRatio;
  const n = ch.data.labels.length, i = Math.floor(n / 2);
  const base = ch.scales.y.getPixelForValue(0);
  const hex = (p) => '#' + [p[0], p[1], p[2]].map((v) => v.toString(16).padStart(2, '0')).join('');
  let below = base;
  const bands = ch.data.datasets.map((d, k) => {
    const top = ch.getDatasetMeta(k).data[i].y, x = ch.getDatasetMeta(k).data[i].x;
    const y = (top + below) / 2, tall = below - top; below = top;
    const p = ctx.getImageData(Math.round(x * r), Math.round(y * r), 1, 1).data;
    return { label: d.label, fill: d.backgroundColor, border: d.borderColor, tall: tall,
             painted: hex(p), alpha: p[3] };
  });
  const legend = Object.fromEntries(ch.legend.legendItems.map((l) => [l.text, l.fillStyle]));
  return { bands: bands, legend: legend };
}"""
RATE_AXIS = """(c) => { const s = Chart.getChart(c).scales.y;
  return { min: s.min, max: s.max, ticks: s.ticks.map((t) => t.label) }; }"""


def seeded_events() -> list[dict[str, Any]]:
    """2,400 events over the last 3 weeks from 40 installs (about 88 % succeed), five
    versions, a few in the last minutes and one dated 20 hours ahead (``future-probe``)."""
    rng = random.Random(13)
    now = int(time.time() * 1000)
    out = []
    for _ in range(2400):
        ok = rng.random() > 0.12
        out.append(event(
            install_id=install(rng.randrange(40)),
            timestamp=now - rng.randrange(21 * DAY_MS) - 2 * HOUR_MS,
            command=rng.choice(["icon", "icon", "icon", "config", "telemetry"]),
            version=rng.choice(VERSIONS), success=ok,
            error_type=None if ok else rng.choice(["network", "timeout", "auth"]),
            execution_time=rng.randrange(200, 30_000), api_time=rng.randrange(100, 20_000),
            os=rng.choice(["linux", "linux", "darwin", "windows"]),
            output_format=rng.choice(["png", "png", "ico", None]),
            model_used=rng.choice(["dall-e-3", "gpt-image-1", "local"]),
        ))  # fmt: skip
    for k in range(4):
        out.append(event(timestamp=now - k * 60_000 - 5_000, version="1.10.0"))
    out.append(event(timestamp=now + FUTURE_MS, command="future-probe", version="1.10.0"))
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    rng = random.Random(5)
    rows = [row(e, rng.choice(["DE", "US", "JP", "BR", None])) for e in seeded_events()]
    with seeded_server(tmp_path_factory.mktemp("layout"), rows) as srv:
        yield srv


class Tab:
    """A signed-in page at one size, with the console errors it logged."""

    def __init__(self, page: Any, size: str, base_url: str) -> None:
        self.page, self.size, self.base_url = page, size, base_url
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(str(e)))

    def open(self, path: str) -> Any:
        self.page.goto(self.base_url + path)
        self.page.wait_for_selector(".panel[data-drawn]")
        return self.page

    def canvas(self, metric: str) -> Any:
        canvas = self.page.locator(f"#panel-{metric} canvas")
        canvas.scroll_into_view_if_needed()
        return canvas


@pytest.fixture(scope="module", params=list(SIZES))
def tab(request: Any, server: ServerHandle, browser: Any) -> Iterator[Tab]:
    width, height = SIZES[request.param]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{server.base_url}/login?token={server.admin_token}")
    yield Tab(page, request.param, server.base_url)
    context.close()


def page_json(server: ServerHandle, path: str) -> dict[str, Any]:
    r = httpx.get(server.base_url + path, params={"format": "json"}, headers=server.headers())
    assert r.status_code == 200
    return {p["metric"]: p for p in r.json()["panels"]}


def percent(rate: float) -> str:
    """How en-US writes a rate with at most one decimal (0.879 → 87.9%, 0.88 → 88%)."""
    shown = (Decimal(str(rate)) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{shown.normalize():f}%"


def test_every_page_fits_its_width_without_errors(tab: Tab, server: ServerHandle) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for path in [*PAGES, FILTERED]:
        # No inline style in the markup: the page works under a CSP without 'unsafe-inline'.
        html = httpx.get(server.base_url + path, headers=server.headers()).text
        assert 'class="panel' in html and " style=" not in html and "<style" not in html, path
        page = tab.open(path)
        width = page.evaluate("window.innerWidth")
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, (tab.size, path, scroll, width)
        for panel in page.locator(".panel").all():
            box = panel.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (tab.size, path, box)
        name = path.strip("/").replace("?", "-filtered-").split("&")[0] or "overview"
        page.screenshot(path=str(SHOTS / f"{name}-{tab.size}.png"), full_page=True)
    page = tab.page
    page.goto(server.base_url + "/login")
    assert page.locator("#token").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(SHOTS / f"login-{tab.size}.png"), full_page=True)
    assert tab.problems == []


def test_a_tooltip_answers_between_points_on_every_line_and_bar_chart(tab: Tab) -> None:
    hovered = []
    for path in PAGES:
        page = tab.open(path)
        charts = page.locator(f".panel[data-drawn]:is({CHARTED})")
        for metric in [p.get_attribute("data-metric") for p in charts.all()]:
            canvas = tab.canvas(metric)
            spot = canvas.evaluate(BETWEEN_POINTS)
            box = canvas.bounding_box()
            page.mouse.move(box["x"] + spot["x"], box["y"] + spot["y"])
            shown = canvas.evaluate(TOOLTIP)
            if not shown["active"] and path == "/live":  # redrawn by its refresh: hover again
                page.mouse.move(box["x"] + spot["x"] + 1, box["y"] + spot["y"])
                shown = canvas.evaluate(TOOLTIP)
            assert shown["opacity"] > 0 and shown["active"], (tab.size, metric, spot, shown)
            assert set(shown["active"]) == {spot["index"]}, (tab.size, metric, spot, shown)
            hovered.append(metric)
            page.mouse.move(0, 0)
    assert {"daily-active", "success-rate", "versions", "countries", "live"} <= set(hovered)
    assert tab.problems == []


def test_cards_and_tables_speak_human(tab: Tab, server: ServerHandle) -> None:
    summary = {r["metric"]: r["value"] for r in page_json(server, "/")["summary"]["rows"]}
    page = tab.open("/")
    labels = page.locator("#panel-summary .card .label").all_inner_texts()
    values = page.locator("#panel-summary .card .value").all_inner_texts()
    cards = dict(zip(labels, values, strict=True))
    assert all("_" not in label for label in cards), cards
    assert cards["Events"] == f"{summary['events']:,}" and summary["events"] >= 1000
    assert cards["Success rate"] == percent(summary["success_rate"])
    assert cards["New installs"] == f"{summary['new_installs']:,}"
    assert cards["Median execution time"] == f"{round(summary['execution_time_p50_ms']):,} ms"
    assert cards["Top command"] == "icon"

    timing = page_json(server, "/")["execution-time"]["rows"]
    cells = page.locator("#panel-execution-time tbody tr").first.locator("td").all_inner_texts()
    assert cells[:2] == ["all", f"{timing[0]['measured']:,}"]
    assert page.locator("#panel-execution-time thead th").all_inner_texts()[2] == "p50 (ms)"

    page = tab.open("/adoption")
    names = page.locator("#panel-countries canvas").evaluate("(c) => Chart.getChart(c).data.labels")
    assert {"Germany", "United States", "Japan", "Brazil", "unknown"} == set(names)
    countries = page_json(server, "/adoption")["countries"]["rows"]
    first = page.locator("#panel-countries tbody tr").first.locator("td").all_text_contents()
    top = countries[0]
    named = {"DE": "Germany", "US": "United States", "JP": "Japan", "BR": "Brazil"}
    assert first == [named.get(top["country"], top["country"]), f"{top['events']:,}",
                     percent(top["share"])]  # fmt: skip
    assert tab.problems == []


def test_version_areas_stack_in_version_order_in_the_legend_colours(tab: Tab) -> None:
    tab.open("/adoption")
    found = tab.canvas("versions").evaluate(VERSION_AREAS)
    assert [b["label"] for b in found["bands"]] == IN_ORDER
    colours = [b["fill"] for b in found["bands"]]
    assert len(set(colours)) == len(colours)
    for band in found["bands"]:
        assert re.fullmatch(r"#[0-9a-f]{6}", band["fill"]), band  # opaque
        assert band["fill"] == band["border"] == found["legend"][band["label"]], band
        if band["tall"] >= 8:  # too thin a band is all border
            assert band["painted"] == band["fill"] and band["alpha"] == 255, band
    assert sum(b["tall"] >= 8 for b in found["bands"]) >= 4
    assert tab.problems == []


def test_the_success_rate_axis_fits_the_data_in_percent(tab: Tab, server: ServerHandle) -> None:
    rates = [r["success_rate"] for r in page_json(server, "/")["success-rate"]["rows"]]
    seen = [r for r in rates if r is not None]
    tab.open("/")
    axis = tab.canvas("success-rate").evaluate(RATE_AXIS)
    assert min(seen) - 0.1 <= axis["min"] <= min(seen) and max(seen) <= axis["max"] <= 1, axis
    assert axis["min"] > 0.3, axis  # a 0.92 → 0.85 drop is a quarter of the height, not 7 %
    assert all(t.endswith("%") for t in axis["ticks"]), axis


def test_the_heatmap_shows_all_24_hours(tab: Tab) -> None:
    page = tab.open("/usage")
    width = page.evaluate("window.innerWidth")
    hours = page.locator("#panel-peak-hours .hour")
    assert hours.count() == 24
    for hour in hours.all():
        box = hour.bounding_box()
        assert box["width"] >= 10 and box["height"] >= 10, box
        assert 0 <= box["x"] and box["x"] + box["width"] <= width, box
    cells = page.locator("#panel-peak-hours .cell")
    assert cells.count() == 7 * 24
    cramped = cells.evaluate_all(
        "(cs) => cs.filter((c) => c.scrollWidth > c.clientWidth || c.clientWidth < 16).length"
    )
    assert cramped == 0
    assert tab.problems == []


def test_live_dates_every_event_and_flags_the_future(tab: Tab) -> None:
    page = tab.open("/live")
    assert page.locator("form.filters input[type=date]").count() == 0
    assert page.locator("form.filters .quick").count() == 0
    assert page.locator("#command").is_visible() and page.locator("#version").is_visible()
    rows = page.locator("#panel-recent tbody tr")
    assert rows.count() == 5
    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=FUTURE_MS)).date().isoformat()
    for r in rows.all():
        when = r.locator("td").first
        assert STAMP.match(when.inner_text()), when.inner_text()
        flagged = when.locator(".badge.future")
        if "future-probe" in r.inner_text():
            assert flagged.is_visible() and when.inner_text().startswith(ahead)
        else:
            assert flagged.count() == 0
    assert tab.problems == []


# Where to click on one bar (horizontal) or doughnut slice: the middle of element ``i``.
ELEMENT_AT = """(c, i) => { const ch = Chart.getChart(c); const el = ch.getDatasetMeta(0).data[i];
  const p = ch.config.type === 'doughnut' ? el.tooltipPosition()
    : { x: (el.x + el.base) / 2, y: el.y };
  return { x: p.x, y: p.y, label: ch.data.labels[i] }; }"""
CHART_SUM = "(c) => Chart.getChart(c).data.datasets[0].data.reduce((a, b) => a + (b || 0), 0)"


def click_element(tab: Tab, metric: str, index: int) -> str:
    canvas = tab.canvas(metric)
    spot = canvas.evaluate(ELEMENT_AT, index)
    box = canvas.bounding_box()
    tab.page.mouse.click(box["x"] + spot["x"], box["y"] + spot["y"])
    return str(spot["label"])


def test_a_click_on_a_breakdown_value_filters_every_page(tab: Tab, server: ServerHandle) -> None:
    page = tab.open("/adoption?days=30")
    before = tab.canvas("daily-active").evaluate(CHART_SUM)
    top = page_json(server, "/adoption?days=30")["countries"]["rows"][0]["country"]
    named = click_element(tab, "countries", 0)
    page.wait_for_url(f"**country={top}**")
    page.wait_for_selector(".panel[data-drawn]")
    chip = page.locator(".chip[data-filter=country]")
    assert chip.is_visible() and named in chip.inner_text(), chip.inner_text()
    assert page.locator("#panel-countries tbody tr").count() == 1
    after = tab.canvas("daily-active").evaluate(CHART_SUM)
    assert 0 < after < before, (before, after)
    # The filter follows the reader to every page, and the API gives the same numbers.
    page.locator("header.top nav a", has_text="Usage").click()
    page.wait_for_url(f"**/usage?*country={top}**")
    page.wait_for_selector(".panel[data-drawn]")
    shown = page.locator("#panel-commands tbody tr").first.locator("td").all_text_contents()
    api = httpx.get(server.base_url + "/v1/metrics/commands", headers=server.headers(),
                    params={"days": "30", "country": top}).json()["rows"][0]  # fmt: skip
    assert shown[:2] == [api["command"], f"{api['events']:,}"]
    # A doughnut slice adds its filter to the one in place.
    os_rows = page_json(server, f"/usage?days=30&country={top}")["operating-systems"]["rows"]
    click_element(tab, "operating-systems", 0)
    page.wait_for_url(f"**os={os_rows[0]['os']}**")
    page.wait_for_selector(".panel[data-drawn]")
    assert page.locator(".chip").count() == 3  # two filters and "Clear all"
    assert f"country={top}" in page.url
    # A table row's link filters too.
    page.locator("#panel-models details summary").click()
    link = page.locator("#panel-models tbody a.filter-link").first
    model = link.inner_text()
    link.click()
    page.wait_for_url(f"**model={model}**")
    page.wait_for_selector(".panel[data-drawn]")
    assert page.locator(".chip[data-filter=model]").is_visible()
    # Removing a chip removes that filter only.
    page.locator(".chip[data-filter=country]").click()
    page.wait_for_selector(".panel[data-drawn]")
    assert "country=" not in page.url and f"model={model}" in page.url
    assert page.locator(".chip[data-filter=country]").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert tab.problems == []


def test_kpi_cards_compare_with_the_previous_period(tab: Tab, server: ServerHandle) -> None:
    r = httpx.get(server.base_url + "/v1/metrics/summary", headers=server.headers(),
                  params={"days": "7", "compare": "previous"})  # fmt: skip
    rows = {row["metric"]: row for row in r.json()["rows"]}
    page = tab.open("/?days=7")
    events = page.locator("#panel-summary .card[data-metric=events]")
    row = rows["events"]
    assert row["previous"] > 0 and row["change"] is not None
    arrow = "▲" if row["change"] > 0 else "▼"
    change = f"{row['change'] * 100:+.1f}".rstrip("0").rstrip(".") + "%"
    delta = events.locator(".delta")
    assert delta.inner_text().split() == [arrow, change], delta.inner_text()
    assert "good" in (delta.get_attribute("class") or "") if row["change"] > 0 else True
    assert events.locator(".vs").inner_text() == f"vs {row['previous']:,} in the previous 7 days"
    rate = rows["success_rate"]
    shown = page.locator("#panel-summary .card[data-metric=success_rate] .delta .change")
    if rate["change"]:
        points = f"{rate['change'] * 100:+.1f}".rstrip("0").rstrip(".")
        assert shown.inner_text() == f"{points} pts", shown.inner_text()
    top = page.locator("#panel-summary .card[data-metric=top_command] .delta")
    same = rows["top_command"]["value"] == rows["top_command"]["previous"]
    assert top.inner_text().split() == (["=", "unchanged"] if same else ["↔", "changed"])
    assert tab.problems == []


SEGMENT_DASH = """(c) => { const d = Chart.getChart(c).data.datasets[0], n = d.data.length;
  return [d.segment.borderDash({ p1DataIndex: n - 1 }) || null,
          d.segment.borderDash({ p1DataIndex: n - 2 }) || null]; }"""
BAR_FILLS = """(c) => Chart.getChart(c).data.datasets[0].backgroundColor.map(
  (b) => b instanceof CanvasPattern ? 'hatched' : 'solid')"""


def test_partial_periods_are_marked(tab: Tab) -> None:
    page = tab.open("/adoption?days=30")
    assert tab.canvas("daily-active").evaluate(SEGMENT_DASH) == [[6, 4], None]
    note = page.locator("#panel-daily-active .partial-note")
    assert note.is_visible() and "Dashed line" in note.inner_text()
    fills = tab.canvas("weekly-active").evaluate(BAR_FILLS)
    first = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=29)
    cut = first.weekday() != 0  # the range starts after that week's Monday
    assert fills[-1] == "hatched" and fills[0] == ("hatched" if cut else "solid"), fills
    assert "solid" in fills
    assert "Hatched bar" in page.locator("#panel-weekly-active .partial-note").inner_text()
    last = page.locator("#panel-daily-active tbody tr").last
    assert last.locator(".badge.partial").count() == 1
    assert page.locator("#panel-daily-active tbody .badge.partial").count() == 1
    page = tab.open("/growth")
    newest = page.locator("#panel-cohorts tbody tr").last
    assert newest.locator(".badge.partial").is_visible()
    assert page.locator("#panel-cohorts .legend-note").is_visible()
    tab.open("/performance")
    assert tab.canvas("latency-over-time").evaluate(SEGMENT_DASH) == [[6, 4], None]
    assert tab.problems == []
