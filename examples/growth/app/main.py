"""Entry points: `uvicorn app.main:app` locally, `app.main.handler` on AWS Lambda (Function URL)."""

from mangum import Mangum

from app.api import create_app

app = create_app()
# lifespan off: Lambda freezes between invocations; clients are built lazily and reused while warm.
handler = Mangum(app, lifespan="off")
