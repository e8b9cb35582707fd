"""The rehearsal service: an HTTP API (app.py) and workers (jobs.py) over one PostgreSQL database (store.py)."""
