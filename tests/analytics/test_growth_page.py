"""The headline card and the pricing-tier box in headless Chromium, at 1440 and 390 px: the
Overview card reads "Active installs, last 7 days" with the right number; on the Growth
page, commands per month sits beside the heavy installs, and the "Commands/month above" box
changes the tier line through the URL (and the links keep it)."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from iconiq.server.storage.base import open_store
from tests.analytics.seed import DAY_MS, event, install, row
from tests.support.server import ServerHandle, running_server, signed_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The range: last calendar month, whole (one row of commands per month, not partial).
LAST = dt.datetime.now(dt.UTC).date().replace(day=1) - dt.timedelta(days=1)
FIRST = LAST.replace(day=1)
RANGE = f"from={FIRST.isoformat()}&to={LAST.isoformat()}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """Installs 0–9 ran 1, 2, … 10 commands a day on each of the month's last 3 days (3, 6, …
    30 in all); install 10 ran one command on the month's 5th."""
    work = tmp_path_factory.mktemp("growth-page")
    url = f"sqlite:///{work / 'growth.db'}"
    store = open_store(url)
    store.migrate()
    end = int(dt.datetime.combine(LAST, dt.time(), dt.UTC).timestamp() * 1000) + DAY_MS
    rng = random.Random(11)
    events = []
    for n in range(10):
        for back in (1, 2, 3):
            for _ in range(n + 1):
                ts = end - back * DAY_MS + rng.randrange(DAY_MS)
                events.append(event(event_id=str(uuid.uuid4()), install_id=install(n),
                                    timestamp=ts))  # fmt: skip
    fifth = end - (LAST.day - 4) * DAY_MS + 3_600_000
    events.append(event(install_id=install(10), timestamp=fifth))
    store.insert([row(e) for e in events])
    store.close()
    with running_server(database_url=url, directory=work) as srv:
        yield srv


@pytest.mark.parametrize("width", [1440, 390])
def test_headline_card_and_threshold_box(server: ServerHandle, browser: Any, width: int) -> None:
    page, problems = signed_in(server, browser, width)
    page.goto(f"{server.base_url}/?{RANGE}")
    cards = page.locator("#panel-summary .card").all_inner_texts()
    headline = [c for c in cards if "Active installs, last 7 days" in c]
    assert len(headline) == 1 and headline[0].split("\n")[1].strip() == "10", cards
    assert not [c for c in cards if "Weekly active" in c]

    page.goto(f"{server.base_url}/growth?{RANGE}")
    panels = page.locator("main .panel").evaluate_all("(ps) => ps.map((p) => p.id)")
    heavy = panels.index("panel-heavy-installs")
    assert panels[heavy + 1] == "panel-commands-per-month"  # beside the heavy installs
    box = page.locator("#threshold")
    assert box.input_value() == "100"
    texts = page.locator("#panel-commands-per-month tbody tr td").all_inner_texts()
    assert texts[:4] == [FIRST.strftime("%Y-%m"), str(LAST.day), "no", "11"], texts
    assert texts[-3:] == ["100", "0", "0%"], texts

    # 3, 6 … 30 commands in the month: more than 20 are installs 6–9 (21, 24, 27, 30).
    box.fill("20")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**threshold=20**")
    texts = page.locator("#panel-commands-per-month tbody tr td").all_inner_texts()
    assert texts[-3:] == ["20", "4", "36.4%"], texts  # 4 of the month's 11 active installs
    assert page.locator("#threshold").input_value() == "20"
    for link in ("CSV", "JSON"):
        href = page.locator(f"#panel-commands-per-month a:text('{link}')").get_attribute("href")
        assert href is not None and "threshold=20" in href
    nav = page.locator("header.top nav a").first.get_attribute("href")
    assert nav is not None and "threshold=20" in nav

    # Nothing pushes the page wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert problems == []
    page.close()
