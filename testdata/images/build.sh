#!/bin/sh
# build.sh OUT: build the test images' static binaries into OUT/<name>/ next
# to their Dockerfiles, ready for image_build (testdata/images/build.star).
#
# The [docker] suites run it under testscript, where HOME is /no-home, so the
# Go build cache defaults to a fixed directory under /tmp that later runs reuse.
set -eu
out=${1:?usage: build.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false GOPROXY=off
export GOCACHE="${BOTTLE_TEST_GOCACHE:-/tmp/bottle-test-gocache}"
export GOPATH="${GOPATH:-/tmp/bottle-test-gopath}"
cd "$here"
for name in probe upstream pipelock; do
	mkdir -p "$out/$name"
	go build -trimpath -ldflags='-s -w' -o "$out/$name/$name" "./$name"
	cp "$name/Dockerfile" "$out/$name/Dockerfile"
done
