"""The oracle's data set (tests/analytics/test_oracle.py): known events with releases,
failure rates, duplicates, late uploads and day/week/month boundaries, and their upload."""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.server import ServerHandle

DAY = 86_400_000
HOUR = 3_600_000
EPOCH = dt.date(1970, 1, 1)
SPAN = 95  # days of data, ending today
OTHER = "(other)"
NONE = "(none)"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
BUCKET_ERROR = 0.046  # docs/analytics.md, "Percentile precision": within about 4.5 %

# Public addresses and the country the server's offline database gives them; the test
# server trusts 127.0.0.1 as its proxy, so X-Forwarded-For is believed.
ADDRESSES = {
    "8.8.8.8": "US", "81.2.69.160": "GB", "5.9.0.1": "DE", "1.1.1.1": "AU",
    "133.11.0.1": "JP", "200.160.2.3": "BR", "49.44.0.1": "IN", "80.67.169.12": "FR",
    "203.0.113.5": None,  # documentation range: no country
}  # fmt: skip
# (version, days after the first day it is released, failure rate of `icon`)
RELEASES = (("1.0.0", 0, 0.04), ("1.1.0", 25, 0.08), ("1.2.0", 50, 0.35),
            ("1.2.1", 62, 0.06), ("1.3.0", 80, 0.12))  # fmt: skip
COMMANDS = (("icon", 70), ("config", 10), ("telemetry status", 8), ("telemetry flush", 7),
            ("telemetry export", 5))  # fmt: skip
ERRORS = ("network", "timeout", "rate_limit", "content_policy", "auth", "api_error", None)
FORMATS = ("png", "png", "webp", "ico", "icns", "jpeg")
MODELS = ("dall-e-3", "gpt-image-1", "dall-e-2", "local")
INVOKERS = ("terminal", "terminal", "terminal", "make", "npm", "script", None)
INVOKERS_CI = ("make", "npm", "gradle", "script", "other", None)
FLAGS = ("--model", "--size", "--format", "--out", "--quality", "--style")


def date_of(day: int) -> str:
    return (EPOCH + dt.timedelta(days=day)).isoformat()


def day_of_date(date: dt.date) -> int:
    return (date - EPOCH).days


def weekday(day: int) -> int:
    """Monday 0 … Sunday 6."""
    return (EPOCH + dt.timedelta(days=day)).weekday()


def monday(day: int) -> int:
    return day - weekday(day)


def share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


# ---------------------------------------------------------------------------------------
# The data set


@dataclass
class DataSet:
    today: int
    now_ms: int
    # events to send, in batches: (X-Forwarded-For or None, events)
    batches: list[tuple[str | None, list[dict[str, Any]]]] = field(default_factory=list)
    late: list[tuple[str | None, list[dict[str, Any]]]] = field(default_factory=list)
    stored: list[dict[str, Any]] = field(default_factory=list)  # unique events + "country"


def build(seed: int = 13) -> DataSet:
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000)
    today = now_ms // DAY
    first = today - SPAN + 1
    data = DataSet(today, now_ms)
    # Events of the last two hours are only the planned ones (so "recent" has no boundary).
    quiet_from = now_ms - 2 * HOUR

    def release_on(day: int, lag: int) -> tuple[str, float]:
        out = RELEASES[0]
        for r in RELEASES:
            if first + r[1] + lag <= day:
                out = r
        return out[0], out[2]

    def make(install: str, ts: int, profile: dict[str, Any], command: str | None = None,
             version: str | None = None) -> dict[str, Any]:  # fmt: skip
        ver, rate = release_on(ts // DAY, profile["lag"])
        # Some installs move (a laptop replaced, a CI job added) or mix two set-ups a day.
        alt = ts // DAY >= profile.get("moves", today + 1) or rng.random() < profile.get("mix", 0)
        os_name, in_ci = profile["alt"] if alt else (profile["os"], profile["ci"])
        ver = version or ver
        cmd = command or rng.choices([c for c, _ in COMMANDS], [w for _, w in COMMANDS])[0]
        fail_rate = rate if cmd == "icon" else 0.03
        success = rng.random() >= fail_rate
        icon = cmd == "icon"
        execution = None if rng.random() < 0.05 else int(rng.lognormvariate(7 if icon else 2, 1.2))
        if execution is not None and rng.random() < 0.03:
            execution = rng.choice([0, 1, 5, 11])
        return {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "session_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "install_id": install,
            "schema": 1,
            "command": cmd,
            "success": success,
            "timestamp": ts,
            "version": ver,
            "execution_time": execution,
            "error_type": None if success else rng.choice(ERRORS),
            "prompt_length": rng.randint(5, 300) if icon and rng.random() > 0.1 else None,
            "output_format": rng.choice(FORMATS) if icon else None,
            "model_used": rng.choice(MODELS) if icon else None,
            "api_time": int(rng.lognormvariate(6.5, 1)) if icon and success and execution else None,
            "flags": rng.sample(FLAGS, rng.randint(0, 3)) if icon else [],
            "os": os_name,
            "python": "3.12",
            "ci": in_ci,
            # The contract's integration fields (a server that does not know them ignores
            # them): a CI service for runs in CI, the tool that started the command.
            "ci_provider": profile["provider"] if in_ci else None,
            "invoked_by": rng.choice(INVOKERS_CI if in_ci else INVOKERS),
        }  # fmt: skip

    def at(day: int) -> int:
        ts = day * DAY + rng.randint(0, DAY - 1)
        return ts if day < today or ts < quiet_from else -1

    events: list[tuple[str | None, dict[str, Any]]] = []
    profiles: dict[str, dict[str, Any]] = {}
    for n in range(130):  # installs
        install = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        kind = rng.choices(["trial", "casual", "regular", "heavy", "ci"], [30, 30, 20, 12, 8])[0]
        profile: dict[str, Any] = {
            "ci": True if kind == "ci" else (None if n % 17 == 0 else False),
            "os": "linux" if kind == "ci" else rng.choice(["linux", "darwin", "windows", None]),
            "lag": rng.randint(0, 12),
            "address": rng.choice([*ADDRESSES, None, None]),
            "alt": (rng.choice(["linux", "darwin", "windows"]), rng.random() < 0.5),
            "provider": rng.choice(["github-actions", "gitlab-ci", "circleci", "jenkins"]),
        }
        if n % 5 == 1:
            profile["moves"] = first + rng.randint(0, SPAN - 1)
        elif n % 5 == 2:
            profile["mix"] = rng.choice([0.3, 0.5])
        profiles[install] = profile
        start = first + rng.randint(0, SPAN - 1)
        life = {"trial": 3, "casual": 60, "regular": 90, "heavy": 95, "ci": 95}[kind]
        p = {"trial": 0.7, "casual": 0.1, "regular": 0.3, "heavy": 0.7, "ci": 0.95}[kind]
        per_day = {"trial": 3, "casual": 3, "regular": 6, "heavy": 14, "ci": 40}[kind]
        for day in range(start, min(today, start + life) + 1):
            if day != start and rng.random() > p:
                continue
            for _ in range(rng.randint(1, per_day)):
                ts = at(day)
                if ts >= 0:
                    events.append((profile["address"], make(install, ts, profile)))
    ids = list(profiles)
    # Boundaries: 00:00:00.000 and 23:59:59.999 UTC of Sundays, Mondays and month ends.
    for day in range(first, today):
        date = EPOCH + dt.timedelta(days=day)
        edge = weekday(day) in (0, 6) or (date + dt.timedelta(days=1)).day == 1 or date.day == 1
        if edge:
            for ts in (day * DAY, day * DAY + DAY - 1):
                install = rng.choice(ids)
                events.append((profiles[install]["address"], make(install, ts, profiles[install])))
    # The last minutes (live, recent), and one event dated late tonight (a clock ahead).
    for k in range(1, 9):
        install = rng.choice(ids)
        ts = now_ms - k * 61_000 - 7_000
        events.append((profiles[install]["address"], make(install, ts, profiles[install])))
    install = rng.choice(ids)
    events.append((None, make(install, today * DAY + DAY - 1, profiles[install])))
    # Late uploads: old events of existing installs (some before their first day) and of an
    # install nobody saw before, sent after everything else was folded.
    late: list[tuple[str | None, dict[str, Any]]] = []
    for install in rng.sample(ids, 12):
        for _ in range(rng.randint(1, 4)):
            ts = (first + rng.randint(0, 20)) * DAY + rng.randint(0, DAY - 1)
            late.append((profiles[install]["address"], make(install, ts, profiles[install])))
    newcomer = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    profiles[newcomer] = {"ci": False, "os": "darwin", "lag": 0, "address": "81.2.69.160",
                          "provider": "other"}  # fmt: skip
    for d in (first + 3, first + 3, first + 10):
        late.append(("81.2.69.160", make(newcomer, d * DAY + 1000 * rng.randint(0, 86_399),
                                         profiles[newcomer], command="config")))  # fmt: skip

    data.stored = [{**e, "country": ADDRESSES.get(a) if a else None} for a, e in [*events, *late]]
    data.batches = _batches(rng, events)
    data.late = _batches(rng, late)
    return data


def _batches(
    rng: random.Random, events: list[tuple[str | None, dict[str, Any]]]
) -> list[tuple[str | None, list[dict[str, Any]]]]:
    """Batches of at most 400 events sharing an address, in a shuffled order."""
    by_address: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for address, e in events:
        by_address[address].append(e)
    out = []
    for address, group in by_address.items():
        rng.shuffle(group)
        out += [(address, group[i : i + 400]) for i in range(0, len(group), 400)]
    rng.shuffle(out)
    return out


def upload(server: ServerHandle, batches: Iterable[tuple[str | None, list[dict[str, Any]]]],
           rng: random.Random) -> tuple[int, int]:  # fmt: skip
    """Send the batches (each one also again later: duplicates; some with one event twice);
    (accepted, duplicates) as the server answered."""
    accepted = duplicates = 0
    sent: list[tuple[str | None, list[dict[str, Any]]]] = []
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        for address, events in batches:
            body = list(events)
            if rng.random() < 0.3:
                body.append(dict(rng.choice(events)))  # the same event twice in one batch
            headers = {"X-Forwarded-For": address} if address else {}
            r = client.post("/v1/batch", json={"events": body}, headers=headers)
            assert r.status_code == 200, r.text
            answer = r.json()
            assert answer["rejected"] == [], answer["rejected"][:3]
            accepted += answer["accepted"]
            duplicates += answer["duplicates"]
            sent.append((address, body))
        for address, body in rng.sample(sent, max(1, len(sent) // 3)):
            headers = {"X-Forwarded-For": address} if address else {}
            r = client.post("/v1/batch", json={"events": body}, headers=headers)
            assert r.status_code == 200, r.text
            accepted += r.json()["accepted"]
            duplicates += r.json()["duplicates"]
    return accepted, duplicates
