// Test images for bottle's [docker] suites: an agent-role probe, an upstream
// web server and a pipelock stand-in. A module of its own with no
// dependencies, so build.sh needs no module cache and no network.
module bottle.test/images

go 1.26
