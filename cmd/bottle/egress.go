package main

import "github.com/bottle-sh/bottle/egress"

func init() {
	register(command{
		name:    "egress",
		usage:   "egress --routes FILE [--listen ADDR] [--clients CIDR,...] [--ca DIR] [--upstream URL] [--spin DURATION] | egress --check FILE",
		summary: "run the egress proxy sidecar, or check a routes file",
		order:   60,
		run:     egress.Main,
	})
}
