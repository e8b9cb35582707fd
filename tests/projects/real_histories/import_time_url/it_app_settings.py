"""The project's settings, read from the environment once, at import (as prefect's are)."""

import os

DATABASE_URL = os.environ.get("IMPORT_DB_URL", "postgresql+psycopg2://postgres@127.0.0.1:1/unset")
