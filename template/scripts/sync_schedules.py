"""Sync the plan's cron schedules to QStash (idempotent). `--dry-run` prints the diff and changes nothing.

Needs QSTASH_URL, QSTASH_TOKEN, PUBLIC_BASE_URL and optionally PLAN_PATH in the environment.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.plan import load_plan
from app.schedules import apply_changes, format_changes, plan_changes
from app.settings import DEFAULT_PLAN_PATH


class SyncSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    public_base_url: str
    qstash_token: SecretStr
    # Required: QStash is regional, a token works only against its own region's URL.
    qstash_url: str
    plan_path: Path = DEFAULT_PLAN_PATH


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="print the changes without applying them")
    args = parser.parse_args(argv)

    from qstash import QStash

    try:
        settings = SyncSettings()  # type: ignore[call-arg]  # values come from the environment
    except ValidationError as exc:
        missing = sorted(str(e["loc"][0]).upper() for e in exc.errors(include_url=False))
        print(f"sync_schedules: set {', '.join(missing)} in the environment (see .env.production.local.example)")
        return 2
    plan = load_plan(settings.plan_path)
    client = QStash(settings.qstash_token.get_secret_value(), retry=False, base_url=settings.qstash_url)
    changes = plan_changes(plan, settings.public_base_url, client.schedule.list())
    print(format_changes(changes) or "no cron workers in the plan")
    pending = [c for c in changes if c.action != "keep"]
    if args.dry_run:
        print(f"dry run: {len(pending)} change(s) not applied")
        return 0
    apply_changes(client, plan, settings.public_base_url, pending)
    print(f"applied {len(pending)} change(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
