// Package recipes holds bottle's recipes, built into the binary so that
// `bottle run start` works from any directory after `go install`.
package recipes

import "embed"

// FS is recipes/ as it was at build time: the recipes, lib/ and examples/.
//
//go:embed *.star lib/*.star examples/*.star
var FS embed.FS
