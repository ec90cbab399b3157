"""Do QSTASH_URL, QSTASH_TOKEN and the signing keys belong together?

QStash's regions are independent: each has its own API tokens and signing keys ("Select a Region",
https://upstash.com/docs/qstash/howto/multi-region, read 2026-11-25). A token used against the other
region's URL is refused: QStash answers "user (...) not found in this region (eu-central-1)" with a 404
("fix(qstash): pin client to US region via QSTASH_URL", https://github.com/superset-sh/superset/pull/3584,
read 2026-11-25), an unknown token gets 401. Keys copied from another account or region make every delivery
fail its signature check. One request with the real SDK, `signing_key.get()` (GET /v2/keys), tells them
apart before anything is deployed.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from qstash import QStash
from qstash.errors import QStashError

from ops.config import QStashRegions

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# qstash 3.4.0 raises QStashError("Request failed with status: <code>, body: ...") with no status attribute.
_STATUS = re.compile(r"status: (\d{3})")
REFUSED_TOKEN = {401, 403, 404}


def _status(error: QStashError) -> int | None:
    match = _STATUS.search(str(error))
    return int(match.group(1)) if match else None


def qstash_problems(
    url: str, token: str, current_key: str, next_key: str, regions: QStashRegions
) -> tuple[str, list[str]]:
    """(what was found, one line per problem). Never includes the token or a key."""
    if not url:
        return "", [f"QSTASH_URL is not set: set it to {regions.choices()}, the region your QStash account is in"]
    parts = urlsplit(url)
    region = regions.of_url(url)
    if region is None and parts.hostname not in LOOPBACK_HOSTS:
        return "", [f"QSTASH_URL {parts.scheme}://{parts.netloc} is not a QStash region: use {regions.choices()}"]
    where = f"QStash's {region.describe()}" if region else f"the QStash at {url}"
    try:
        keys = QStash(token, retry=False, base_url=url).signing_key.get()
    except QStashError as error:
        status = _status(error)
        if status in REFUSED_TOKEN:
            other = "; ".join(f"{r.name}: {r.url}" for r in regions.others(region)) if region else ""
            hint = f" (the other region is {other}: is your QStash account there?)" if other else ""
            return "", [f"QSTASH_TOKEN is not valid in {where}, HTTP {status}{hint}"]
        return "", [f"{where} answered HTTP {status or '?'} to GET /v2/keys: try again, or check status.upstash.com"]
    except httpx.HTTPError as error:
        return "", [f"{where} cannot be reached ({type(error).__name__}): check QSTASH_URL and the network"]
    if (keys.current, keys.next) == (current_key, next_key):
        return f"token and signing keys belong to {where}", []
    if {current_key, next_key} & {keys.current, keys.next}:
        return "", [
            "QSTASH_CURRENT_SIGNING_KEY/QSTASH_NEXT_SIGNING_KEY are out of date (the keys were rotated):"
            " copy both again from the QStash console"
        ]
    return "", [
        f"QSTASH_CURRENT_SIGNING_KEY/QSTASH_NEXT_SIGNING_KEY are not the signing keys of {where}: they belong"
        " to another QStash account or region (copy them from the same account and region as QSTASH_TOKEN)"
    ]
