#!/usr/bin/env bash
# Builds the project environments the migration-child tests rehearse through `--python`, once.
#
# Each venv is an application's own environment, unrelated to rehearse's: an old SQLAlchemy and
# Alembic, another driver, Flask-Migrate. A venv is rebuilt only when its package list changes
# (a stamp file holds the list), so `make test` pays the build once per machine.
#
#   scripts/test-venvs.sh            build (or reuse) every venv, print their folder
#   scripts/test-venvs.sh sa14 ...   only these
#
# Folder: $REHEARSE_TEST_VENVS, default ~/.cache/rehearse-test-venvs.
set -euo pipefail

ROOT="${REHEARSE_TEST_VENVS:-$HOME/.cache/rehearse-test-venvs}"
PYTHON="${PYTHON:-python3}"

declare -A PACKAGES=(
  [sa14]="SQLAlchemy==1.4.54 alembic==1.7.7 psycopg2-binary"
  [sa20]="SQLAlchemy==2.0.* alembic==1.13.* psycopg[binary]==3.*"
  [sa21]="SQLAlchemy[asyncio]==2.1.* alembic asyncpg"
  [flask]="Flask Flask-SQLAlchemy Flask-Migrate psycopg2-binary"
)

names=("$@")
[ ${#names[@]} -eq 0 ] && names=(sa14 sa20 sa21 flask)
mkdir -p "$ROOT"
for name in "${names[@]}"; do
  wanted="${PACKAGES[$name]:?unknown venv $name (known: ${!PACKAGES[*]})}"
  venv="$ROOT/$name"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.packages" 2>/dev/null)" = "$wanted" ]; then
    continue
  fi
  # built beside, then moved in: a half-built venv is never taken for a finished one
  tmp="$ROOT/.$name.building.$$"
  rm -rf "$tmp"
  "$PYTHON" -m venv "$tmp"
  # shellcheck disable=SC2086  # the list is meant to split into packages
  "$tmp/bin/pip" install -q --disable-pip-version-check $wanted
  # venvs hold absolute paths: recreate the scripts in the final place
  rm -rf "$venv"
  mv "$tmp" "$venv"
  "$PYTHON" -m venv --upgrade "$venv" >/dev/null
  echo "$wanted" > "$venv/.packages"
  echo "built $venv: $("$venv/bin/python" -c 'import sqlalchemy, alembic; print("SQLAlchemy", sqlalchemy.__version__, "Alembic", alembic.__version__)')" >&2
done
echo "$ROOT"
