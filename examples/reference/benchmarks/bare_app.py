"""The baseline of benchmarks/cold_start.py: a bare FastAPI app behind Mangum, as app/main.py builds the
service's, answering one trivial POST (it reads the body, like the workers) the same way."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from mangum import Mangum

ROUTE = "/bare"

app = FastAPI(docs_url=None, redoc_url=None)


@app.post(ROUTE)
async def bare(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True, "bytes": len(await request.body())})


handler = Mangum(app, lifespan="off")
