"""One cold start, run by benchmarks/cold_start.py in a fresh `python -S -B` whose path holds only the
extracted package (and this folder): import the handler's module, answer one Function URL event through it,
print the timings and the answer as one JSON line. Nothing but the standard library is imported first.

argv: <package folder> <handler module> <event file>
"""

from __future__ import annotations

import importlib
import json
import sys
import time


def main() -> None:
    started = time.perf_counter()
    package, module_name, event_path = sys.argv[1:4]
    sys.path.insert(0, package)
    with open(event_path, encoding="utf-8") as file:
        event = json.load(file)
    importing = time.perf_counter()
    module = importlib.import_module(module_name)
    imported = time.perf_counter()
    response = module.handler(event, None)
    answered = time.perf_counter()
    print(
        json.dumps(
            {
                "status": response["statusCode"],
                "body": str(response.get("body", ""))[:500],
                "before_import_s": importing - started,
                "startup_s": imported - importing,
                "request_s": answered - imported,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
