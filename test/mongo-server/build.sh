#!/usr/bin/env bash
# Builds the test MongoDB-wire server (mongo-java-server 1.47.0 from Maven Central behind our
# TestMongoServer main) and writes its runtime classpath to target/classpath.txt.
# Does nothing when the build is newer than pom.xml and the source, and every jar it names is
# still in the local Maven repository. Needs the network only on the first run.
set -euo pipefail
cd "$(dirname "$0")"

for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "test/mongo-server: '$tool' is not on PATH; the test MongoDB server needs Java 17+ and Maven (Debian: apt-get install openjdk-17-jdk-headless maven)" >&2
    exit 1
  fi
done

source_file=src/main/java/journeys/testserver/TestMongoServer.java
class_file=target/classes/journeys/testserver/TestMongoServer.class
classpath_file=target/classpath.txt

up_to_date() {
  local built
  for built in "$class_file" "$classpath_file"; do
    [[ -f "$built" && "$built" -nt pom.xml && "$built" -nt "$source_file" ]] || return 1
  done
  # A kept target/ with a fresh ~/.m2 would otherwise start a JVM with jars missing.
  local jar jars
  IFS=: read -r -a jars <"$classpath_file"
  [[ ${#jars[@]} -gt 0 ]] || return 1
  for jar in "${jars[@]}"; do
    [[ -f "$jar" ]] || return 1
  done
}

if up_to_date; then
  exit 0
fi

if ! mvn -q -B compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt; then
  echo "test/mongo-server: the Maven build failed (see above); it needs Maven Central once, then works offline" >&2
  exit 1
fi
# Maven leaves unchanged outputs untouched, so mark them fresh or every later run rebuilds.
touch "$class_file" "$classpath_file"
echo "test/mongo-server: built (mongo-java-server 1.47.0, in-memory backend)"
