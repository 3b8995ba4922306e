#!/usr/bin/env bash
# Builds the test MongoDB-wire server (mongo-java-server from Maven Central) and writes its
# runtime classpath. Does nothing when the build is newer than its sources.
set -euo pipefail
cd "$(dirname "$0")"
for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "test/mongo-server: '$tool' is missing (needs Java 17 and Maven)" >&2; exit 1; }
done
main=target/classes/journeys/testserver/TestMongoServer.class
if [[ -f "$main" && -f target/classpath.txt && "$main" -nt pom.xml && "$main" -nt src/main/java/journeys/testserver/TestMongoServer.java ]]; then
  exit 0
fi
mvn -q -B compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
echo "test/mongo-server: built (mongo-java-server 1.47.0)"
