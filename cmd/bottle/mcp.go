package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func init() {
	register(command{
		name:    "mcp",
		usage:   "mcp [--url URL] [--timeout DUR] (tools | TOOL [JSON])",
		summary: "call the bottle's MCP server from inside (agents without an MCP client)",
		order:   75,
		run:     runMCP,
	})
}

// runMCP is an MCP client (the go-sdk's) for inside a bottle: it calls a
// tool of $BOTTLE_MCP_URL through the proxy settings and prints the
// result as JSON.
func runMCP(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "the MCP server's `URL` (default $BOTTLE_MCP_URL)")
	timeout := fs.Duration("timeout", 90*time.Second, "give up after `DUR`")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: bottle mcp [--url URL] [--timeout DUR] (tools | TOOL [JSON])

Inside a bottle: list the tools of the bottle's MCP server ($BOTTLE_MCP_URL,
served by its egress) or call one with JSON arguments, through the proxy
settings, and print the result (its structured content) as JSON. A tool
error prints on stderr and exits 1. For example:

  bottle mcp request_access '{"host":"pypi.org","reason":"install the deps"}'
  bottle mcp request_status '{"id":"r3f9a2c41d7","wait_seconds":30}'

Flags:
`)
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		fmt.Fprintf(stderr, "bottle mcp: want tools, or TOOL [JSON]\nusage: bottle %s\n", commands["mcp"].usage)
		return exitUsage
	}
	if *url == "" {
		*url = os.Getenv("BOTTLE_MCP_URL")
	}
	if *url == "" {
		fmt.Fprintln(stderr, "bottle mcp: no --url and no $BOTTLE_MCP_URL (a bottle's agent has it)")
		return exitUsage
	}
	var arguments map[string]any
	if fs.NArg() == 2 {
		if err := json.Unmarshal([]byte(fs.Arg(1)), &arguments); err != nil {
			fmt.Fprintf(stderr, "bottle mcp: arguments: want a JSON object: %v\n", err)
			return exitUsage
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "bottle-mcp", Version: "1"}, nil)
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}
	sess, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: *url, HTTPClient: hc}, nil)
	if err != nil {
		fmt.Fprintf(stderr, "bottle mcp: %s: %v\n", *url, err)
		return exitFailed
	}
	defer sess.Close()
	enc := json.NewEncoder(stdout)
	if fs.Arg(0) == "tools" {
		res, err := sess.ListTools(ctx, nil)
		if err != nil {
			fmt.Fprintf(stderr, "bottle mcp: tools: %v\n", err)
			return exitFailed
		}
		for _, t := range res.Tools {
			fmt.Fprintf(stdout, "%s\t%s\n", t.Name, t.Description)
		}
		return exitOK
	}
	res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: fs.Arg(0), Arguments: arguments})
	if err != nil {
		fmt.Fprintf(stderr, "bottle mcp: %s: %v\n", fs.Arg(0), err)
		return exitFailed
	}
	if res.IsError {
		for _, c := range res.Content {
			if t, ok := c.(*mcp.TextContent); ok {
				fmt.Fprintf(stderr, "bottle mcp: %s: %s\n", fs.Arg(0), t.Text)
			}
		}
		return exitFailed
	}
	enc.Encode(res.StructuredContent)
	return exitOK
}
