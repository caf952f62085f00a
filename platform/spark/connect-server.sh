#!/bin/sh
# The Spark Connect server of the compose stack and of the tests (tests/servers/spark.py):
# Delta's jars, SQL extension and catalog, and s3a for tables in the object store when
# LAKEHOUSE_S3_BUCKET is set. Jars from `python platform/jars.py connect-server-paths`, settings from
# `python -m resources.spark connect-server-conf`
# (SPARK_CONNECT_MASTER, SPARK_CONNECT_PORT, SPARK_CONNECT_BIND_ADDRESS, SPARK_DRIVER_HOST,
# LAKEHOUSE_S3_*); the object store's keys stay in the environment, off the command line.
set -eu
python="${PYTHON:-python}"
jars="$("$python" "$(dirname "$0")/../jars.py" connect-server-paths)"
conf="$("$python" -m resources.spark connect-server-conf)"
set -- --class org.apache.spark.sql.connect.service.SparkConnectServer --name lakehouse-connect \
    --master "${SPARK_CONNECT_MASTER:-local[*]}" --driver-memory "${SPARK_CONNECT_DRIVER_MEMORY:-2g}" --jars "$jars"
old_ifs="$IFS"
IFS='
'
for setting in $conf; do
    set -- "$@" --conf "$setting"
done
IFS="$old_ifs"
exec "${SPARK_HOME:?SPARK_HOME is required (the pyspark package directory)}/bin/spark-submit" "$@"
