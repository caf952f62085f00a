#!/bin/sh
# The object store of the compose stack and of the tests: S3Proxy (a real S3 API server: SigV4,
# multipart, copy, conditional PUT) on its filesystem backend, with the lakehouse's bucket
# created before it starts (a directory under the data folder is a bucket).
# Credentials come from the environment and go into a private properties file, never onto a
# command line. S3PROXY_JAR: `python platform/jars.py s3proxy-path`.
set -eu
: "${AWS_ACCESS_KEY_ID:?AWS_ACCESS_KEY_ID is required}"
: "${AWS_SECRET_ACCESS_KEY:?AWS_SECRET_ACCESS_KEY is required}"
: "${LAKEHOUSE_S3_BUCKET:?LAKEHOUSE_S3_BUCKET is required}"
S3PROXY_JAR="${S3PROXY_JAR:-$(python "$(dirname "$0")/../jars.py" s3proxy-path)}"
data_dir="${S3PROXY_DATA_DIR:-/data}"
listen="${S3PROXY_ENDPOINT:-http://0.0.0.0:9000}"
umask 077
mkdir -p "$data_dir/$LAKEHOUSE_S3_BUCKET"
conf_dir="$(mktemp -d)"
cat > "$conf_dir/s3proxy.properties" <<PROPERTIES
s3proxy.endpoint=$listen
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$AWS_ACCESS_KEY_ID
s3proxy.credential=$AWS_SECRET_ACCESS_KEY
jclouds.provider=filesystem-nio2
jclouds.filesystem.basedir=$data_dir
jclouds.region=${LAKEHOUSE_S3_REGION:-us-east-1}
PROPERTIES
exec java -Xmx256m -jar "$S3PROXY_JAR" --properties "$conf_dir/s3proxy.properties"
