#!/bin/sh
# Initialise a throwaway cluster from POSTGRES_USER/POSTGRES_PASSWORD/POSTGRES_DB, then run it.
# PGPORT (default 5432) is the port; with host networking rehearse picks a free one.
set -eu
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}" "${PGPORT:=5432}"
: "${POSTGRES_LISTEN:=*}"
export PGPORT
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"
  auth=trust
  [ -n "${POSTGRES_PASSWORD:-}" ] && auth=scram-sha-256
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" -A "$auth" -E UTF8 --locale=C.UTF-8 -N >/dev/null
  rm -f "$pwfile"
  # local socket connections stay trusted (for exec'd health checks); TCP needs the password
  {
    echo "local all all trust"
    echo "host all all 0.0.0.0/0 $auth"
    echo "host all all ::/0 $auth"
  } > "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -k /var/run/postgresql" start >/dev/null
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -h /var/run/postgresql -U "$POSTGRES_USER" -d postgres -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$POSTGRES_DB\""
  fi
  pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
fi
if [ "${1:-postgres}" = postgres ]; then
  [ $# -gt 0 ] && shift
  exec postgres -D "$PGDATA" -p "$PGPORT" -k /var/run/postgresql -c "listen_addresses=$POSTGRES_LISTEN" "$@"
fi
exec "$@"
