#!/bin/sh
# build.sh OUT: build the git gate story's static binaries into OUT/<name>/
# next to their Dockerfiles, ready for image_build (build.star).
#
# A module of its own (go.mod here) that needs go-git and bottle's
# internal/gitserver. It is built from a copy in OUT, so that when bottle's
# go.mod has moved on, the copy's requirements follow it (-mod=mod) without
# the source tree being written; modules come from the module cache `go
# test` was run with (GOMODCACHE, which cmd/bottle's tests pass on), with
# GOPROXY=off: nothing is fetched.
set -eu
out=${1:?usage: build.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${GOMODCACHE:?GOMODCACHE is not set: run under cmd/bottle's tests, which pass it on}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -mod=mod" GOPROXY=off GOSUMDB=off GOWORK=off GOMODCACHE
export GOCACHE="${BOTTLE_TEST_GOCACHE:-/tmp/bottle-test-gocache}"
rm -rf "$out/src"
cp -R "$here" "$out/src"
cd "$out/src"
go mod edit -replace "github.com/bottle-sh/bottle=$root"
mkdir -p "$out/upstream" "$out/agent"
go build -trimpath -ldflags='-s -w' -o "$out/upstream/upstream" ./upstream
go build -trimpath -ldflags='-s -w' -o "$out/agent/gitagent" ./agent
cp upstream/Dockerfile "$out/upstream/Dockerfile"
cp agent/Dockerfile "$out/agent/Dockerfile"
