"""Development stand-ins: real PostgreSQL and Redis servers started from PyPI wheels, plus small
loopback imitations of the two services we cannot run offline (QStash and the Azure AI endpoint).

Nothing here is imported by `app/`: it exists for tests, benchmarks and local development only.
"""
