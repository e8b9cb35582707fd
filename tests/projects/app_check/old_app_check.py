"""The old release's query: reads items.legacy_code from the database in DATABASE_URL (or argv[1]'s variable)."""
import os
import sys

import psycopg2

url = os.environ[sys.argv[1] if len(sys.argv) > 1 else "DATABASE_URL"]
conn = psycopg2.connect(url)
with conn.cursor() as cur:
    cur.execute("SELECT count(legacy_code) FROM items")
    print(f"old app: {cur.fetchone()[0]} items read")
