"""QStash-driven background workers: one ASGI app, one module per worker."""
