"""The two integration-point breakdowns (``ci_provider``, ``invoked_by``) from the HTTP API
to the dashboard: events sent through ``POST /v1/batch``, answered by
``/v1/metrics/ci-providers`` and ``/v1/metrics/invoked-by``, drawn on the Usage page in
headless Chromium with their labels and no console errors."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from iconiq.server.storage.base import Store
from tests.analytics.seed import DAY_MS, event, install, row
from tests.analytics.test_rollup_exactness import rebuilt, snapshot
from tests.support.server import ServerHandle, running_server, signed_in

PROVIDERS = ["github-actions"] * 5 + ["gitlab-ci"] * 3 + ["jenkins", "other"]
INVOKERS = ["terminal"] * 6 + ["make"] * 3 + ["npm"] * 2 + ["script", "xcodebuild"]


def context_events(n: int) -> list[dict[str, Any]]:
    rng = random.Random(11)
    now = int(time.time() * 1000)
    out = []
    for _ in range(n):
        ci = rng.random() < 0.4
        out.append(
            event(
                event_id=str(uuid.uuid4()),
                install_id=install(rng.randrange(20)),
                timestamp=now - rng.randrange(5 * DAY_MS) - 3_600_000,
                ci=ci,
                ci_provider=rng.choice(PROVIDERS) if ci else None,
                invoked_by=rng.choice(INVOKERS),
            )
        )
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with running_server(directory=tmp_path_factory.mktemp("context")) as srv:
        events = context_events(300)
        r = httpx.post(srv.base_url + "/v1/batch", json={"events": events})
        assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text
        yield srv


def test_the_metrics_api_answers_both_breakdowns(server: ServerHandle) -> None:
    events = context_events(300)
    for name, field in (("ci-providers", "ci_provider"), ("invoked-by", "invoked_by")):
        r = httpx.get(f"{server.base_url}/v1/metrics/{name}?days=7", headers=server.headers())
        assert r.status_code == 200, r.text
        got = {row[field]: row["events"] for row in r.json()["rows"]}
        expected: dict[str, int] = {}
        for e in events:  # events without a value are the "(none)" row (shares sum to 1)
            value = e[field] if e[field] is not None else "(none)"
            expected[value] = expected.get(value, 0) + 1
        assert got == expected, name


def test_a_value_outside_the_lists_is_rejected_with_a_reason(server: ServerHandle) -> None:
    bad = [event(ci_provider="travis"), event(invoked_by="vim"), event(invoked_by="")]
    r = httpx.post(server.base_url + "/v1/batch", json={"events": bad})
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 0 and len(body["rejected"]) == 3
    reasons = [x["error"] for x in body["rejected"]]
    assert reasons[0].startswith("ci_provider: Input should be 'github-actions'")
    assert all(x.startswith("invoked_by: Input should be 'terminal'") for x in reasons[1:])
    assert not any("travis" in x or "vim" in x for x in reasons)


@pytest.mark.browser
@pytest.mark.slow
def test_the_usage_page_draws_both_doughnuts(server: ServerHandle, browser: Any) -> None:
    seen: list[list[str]] = []
    for width in (1440, 390):
        page, problems = signed_in(server, browser, width, "#panel-daily-active canvas")
        seen.append(problems)
        page.goto(server.base_url + "/usage?days=7")
        page.wait_for_selector(".panel[data-drawn]")
        for panel, values, top in (
            ("ci-providers", PROVIDERS, "github-actions"),
            ("invoked-by", INVOKERS, "terminal"),
        ):
            canvas = page.locator(f"#panel-{panel} canvas")
            canvas.wait_for()
            painted = canvas.evaluate(
                "(el) => { const d = el.getContext('2d')"
                ".getImageData(0, 0, el.width, el.height).data;"
                " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;"
                " return n; }"
            )
            assert painted > 500, (panel, width)
            labels = canvas.evaluate("(c) => Chart.getChart(c).data.labels")
            assert set(labels) <= {*values, "(none)"} and len(labels) >= 3, (panel, labels)
            assert labels[0] == top, (panel, labels)
        page.close()
    assert [p for problems in seen for p in problems] == []


def test_folded_breakdowns_equal_a_rebuild_after_inserts_and_erasure(store: Store) -> None:
    """The new an_daily dimensions fed by the triggers (and taken away on erasure) equal
    ``rollups.rebuild`` from ``events``, on both databases."""
    events = context_events(200)
    store.insert([row(e) for e in events])
    folded = snapshot(store)
    assert folded == rebuilt(store)
    with store.db() as db:
        dims = db.fetch("SELECT DISTINCT dim FROM an_daily")
    assert {"ci_provider", "invoked_by"} <= {d for (d,) in dims}
    store.erase_install(install(3))
    assert snapshot(store) == rebuilt(store)
