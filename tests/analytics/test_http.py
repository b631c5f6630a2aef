"""The metrics API and dashboard pages over real HTTP, against a real ``iconiq-server``."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import httpx
import pytest

from iconiq.server.analytics.metrics import METRICS
from iconiq.server.security import COOKIE_NAME
from tests.analytics.seed import seeded_rows
from tests.support.server import ServerHandle, seeded_server

RANGE = {"from": "2026-03-02", "to": "2026-03-15"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with seeded_server(tmp_path_factory.mktemp("analytics-http"), seeded_rows()) as srv:
        yield srv


def test_metrics_refuse_requests_without_the_admin_token(server: ServerHandle) -> None:
    for path in ["/v1/metrics", "/v1/metrics/commands", "/v1/metrics/commands.csv"]:
        assert httpx.get(server.base_url + path).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert httpx.get(server.base_url + path, headers=wrong).status_code == 401
        forged = {COOKIE_NAME: "0" * 64}
        assert httpx.get(server.base_url + path, cookies=forged).status_code == 401
    page = httpx.get(server.base_url + "/usage")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_every_metric_answers_json_with_a_token(server: ServerHandle) -> None:
    listing = httpx.get(server.base_url + "/v1/metrics", headers=server.headers()).json()
    assert [m["name"] for m in listing["metrics"]] == list(METRICS)
    for name in METRICS:
        r = httpx.get(f"{server.base_url}/v1/metrics/{name}", params=RANGE,
                      headers=server.headers())
        assert r.status_code == 200, (name, r.text)
        body = r.json()
        assert body["metric"] == name and body["filters"]["from"] == "2026-03-02"
        assert all(set(row) == set(body["columns"]) for row in body["rows"])
    commands = httpx.get(server.base_url + "/v1/metrics/commands", headers=server.headers(),
                         params={**RANGE, "version": "1.1.0"}).json()
    assert [(r["command"], r["events"]) for r in commands["rows"]] == [("icon", 2), ("config", 1)]


def test_any_table_exports_as_csv(server: ServerHandle) -> None:
    for path, params in [("/v1/metrics/countries.csv", RANGE),
                         ("/v1/metrics/countries", {**RANGE, "format": "csv"})]:
        r = httpx.get(server.base_url + path, params=params, headers=server.headers())
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert list(csv.reader(io.StringIO(r.text))) == [
            ["country", "events", "share"], ["DE", "3", "0.5"], ["US", "2", "0.3333"],
            ["unknown", "1", "0.1667"],
        ]  # fmt: skip


def test_bad_requests_get_one_clear_line(server: ServerHandle) -> None:
    h = server.headers()
    for params, status, words in [
        ({"from": "yesterday"}, 400, "not a date"),
        ({"days": "0"}, 400, "days"),
        ({"from": "2026-03-10", "to": "2026-03-01"}, 400, "starts after"),
        ({"format": "xml"}, 400, "format"),
    ]:
        r = httpx.get(server.base_url + "/v1/metrics/commands", params=params, headers=h)
        assert r.status_code == status and words in r.json()["error"]
    assert httpx.get(server.base_url + "/v1/metrics/nope", headers=h).status_code == 404


def test_login_sets_a_strict_http_only_session(server: ServerHandle) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        assert "Admin token" in client.get("/login").text
        bad = client.post("/login", data={"token": "wrong", "next": "/usage"})
        assert bad.status_code == 401 and "not right" in bad.text
        assert COOKIE_NAME not in client.cookies
        ok = client.post("/login", data={"token": server.admin_token, "next": "/usage"})
        assert ok.status_code == 303 and ok.headers["location"] == "/usage"
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        page = client.get("/usage", params=RANGE)
        assert page.status_code == 200
        assert 'id="panel-commands"' in page.text and "default-src 'self'" in page.headers[
            "content-security-policy"]
        same = client.get("/usage", params={**RANGE, "format": "json"}).json()
        assert [p["metric"] for p in same["panels"]][:2] == ["commands", "flags"]
        # An off-site "next" is never followed.
        evil = client.post("/login", data={"token": server.admin_token, "next": "//evil.test"})
        assert evil.headers["location"] == "/"
        out = client.post("/logout")
        assert out.status_code == 303
        assert client.get("/usage").status_code == 303


def test_static_assets_are_hashed_and_guarded(server: ServerHandle) -> None:
    page = httpx.get(server.base_url + "/", headers=server.headers()).text
    src = re.search(r'src="(/-/static/[0-9a-f]{12}/chart\.umd\.js)"', page)
    assert src, "the page loads Chart.js from the package"
    js = httpx.get(server.base_url + src.group(1))
    assert js.status_code == 200 and "Chart.js v4" in js.text[:200]
    assert "immutable" in js.headers["cache-control"]
    stale = httpx.get(server.base_url + "/-/static/000000000000/chart.umd.js")
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    for evil in ["/-/static/x/..%2f..%2fsecurity.py", "/-/static/x/../../app.py",
                 "/-/static/x/%2e%2e/__init__.py", "/-/static/x/templates%2fbase.html"]:
        assert httpx.get(server.base_url + evil).status_code == 404, evil
