"""The stack parameters each change set carries (infra/stack.yaml declares them; their defaults are the plan's).

- First create: the database WITHOUT deletion protection, so a failed create rolls back to an empty stack
  (ROLLBACK_COMPLETE) instead of ROLLBACK_FAILED on a protected database; engine versions resolved from the
  region; the reserved concurrency the account can afford.
- The protect step right after a successful create: deletion protection on, everything else as it is.
- Updates: deletion protection on, the running engine versions kept (UsePreviousValue), the affordable
  reserved concurrency. A parameter the deployed stack does not have yet cannot use its previous value
  (CloudFormation refuses), so it gets the resolved value instead.
"""

from __future__ import annotations

from typing import Any

from ops.concurrency import Concurrency
from ops.engines import EngineVersions

RESERVED_CONCURRENCY = "ReservedConcurrency"
DELETION_PROTECTION = "DatabaseDeletionProtection"
DATABASE_ENGINE_VERSION = "DatabaseEngineVersion"
CACHE_ENGINE_VERSION = "CacheEngineVersion"

Parameters = list[dict[str, Any]]


def _value(key: str, value: str) -> dict[str, Any]:
    return {"ParameterKey": key, "ParameterValue": value}


def _previous(key: str) -> dict[str, Any]:
    return {"ParameterKey": key, "UsePreviousValue": True}


def create_parameters(versions: EngineVersions, concurrency: Concurrency) -> Parameters:
    return [
        _value(DELETION_PROTECTION, "false"),
        _value(DATABASE_ENGINE_VERSION, versions.database),
        _value(CACHE_ENGINE_VERSION, versions.cache),
        _value(RESERVED_CONCURRENCY, str(concurrency.reserved)),
    ]


def update_parameters(existing: set[str], versions: EngineVersions, concurrency: Concurrency) -> Parameters:
    def kept(key: str, resolved: str) -> dict[str, Any]:
        return _previous(key) if key in existing else _value(key, resolved)

    return [
        _value(DELETION_PROTECTION, "true"),
        kept(DATABASE_ENGINE_VERSION, versions.database),
        kept(CACHE_ENGINE_VERSION, versions.cache),
        _value(RESERVED_CONCURRENCY, str(concurrency.reserved)),
    ]


def protect_parameters() -> Parameters:
    """Right after the first create, every parameter exists: only deletion protection changes."""
    return [
        _value(DELETION_PROTECTION, "true"),
        _previous(DATABASE_ENGINE_VERSION),
        _previous(CACHE_ENGINE_VERSION),
        _previous(RESERVED_CONCURRENCY),
    ]


def describe(parameters: Parameters) -> str:
    return ", ".join(
        f"{p['ParameterKey']}={'(previous)' if p.get('UsePreviousValue') else p['ParameterValue']}" for p in parameters
    )
