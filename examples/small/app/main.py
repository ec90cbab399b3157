"""Entry points: `uvicorn app.main:app` locally, `app.main.handler` on AWS Lambda (Function URL).

Start-up makes the objects the process keeps to its end (modules, classes, the routes, the plan) and next to
no garbage, yet the cyclic garbage collector scans that growing heap again and again while it is built, and
then on every collection of the first request (which builds its clients and pools). So the
collector is paused while the app is built, and what start-up made is then frozen: moved to the permanent
generation, which no later collection scans ("gc.freeze", https://docs.python.org/3/library/gc.html#gc.freeze,
read 2026-11-25). Garbage is still freed by reference counting; only cycles among start-up objects would wait.
Measured by benchmarks/cold_start.py: ~40 ms less start-up.
"""

import gc

gc.disable()
try:
    from mangum import Mangum

    from app.api import create_app

    app = create_app()
    # lifespan off: Lambda freezes between invocations; clients are built lazily and reused while warm.
    handler = Mangum(app, lifespan="off")
finally:
    gc.freeze()
    gc.enable()
