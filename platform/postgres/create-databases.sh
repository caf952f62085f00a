#!/bin/sh
# One login role and one database per service (Dagster's storage, Marquez), each owning its
# database and nothing else. The postgres image runs this once, on an empty data directory
# (/docker-entrypoint-initdb.d); tests/test_compose_commands.py runs it natively against a
# throwaway cluster. Passwords reach psql through the environment (\getenv), never argv.
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" <<'SQL'
\getenv dagster_user DAGSTER_PG_USER
\getenv dagster_password DAGSTER_PG_PASSWORD
\getenv dagster_db DAGSTER_PG_DB
\getenv marquez_user MARQUEZ_DB_USER
\getenv marquez_password MARQUEZ_DB_PASSWORD
\getenv marquez_db MARQUEZ_DB
CREATE ROLE :"dagster_user" LOGIN PASSWORD :'dagster_password';
CREATE DATABASE :"dagster_db" OWNER :"dagster_user";
CREATE ROLE :"marquez_user" LOGIN PASSWORD :'marquez_password';
CREATE DATABASE :"marquez_db" OWNER :"marquez_user";
SQL
