// Command reader is a test-only helper for engine/docker's tests. It runs as
// PID 1 of a FROM-scratch image, so it does what a shell would do for a test:
//
//	reader serve [--name N] [PATH]  print "reader N: ready"; on SIGHUP print
//	                                 "reader N: SIGHUP received" and, with PATH,
//	                                 "reader N: content=<quoted bytes of PATH>";
//	                                 exit 0 on SIGTERM/SIGINT
//	reader cat PATH                  print PATH's bytes (read inside the container)
//	reader exit CODE                 print "out" to stdout and "err" to stderr, exit CODE
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: reader serve [--name N] [PATH] | cat PATH | exit CODE")
		os.Exit(2)
	}
	switch args := os.Args[2:]; os.Args[1] {
	case "cat":
		for _, p := range args {
			b, err := os.ReadFile(p)
			if err != nil {
				fmt.Fprintln(os.Stderr, "reader:", err)
				os.Exit(1)
			}
			os.Stdout.Write(b)
		}
	case "exit":
		code, _ := strconv.Atoi(args[0])
		fmt.Fprintln(os.Stdout, "out")
		fmt.Fprintln(os.Stderr, "err")
		os.Exit(code)
	case "serve":
		name := "reader"
		if len(args) >= 2 && args[0] == "--name" {
			name, args = "reader "+args[1], args[2:]
		}
		serve(name, args)
	default:
		fmt.Fprintf(os.Stderr, "reader: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

func serve(name string, args []string) {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	fmt.Printf("%s: ready\n", name)
	for sig := range sigs {
		if sig != syscall.SIGHUP {
			fmt.Printf("%s: %v received, exiting\n", name, sig)
			return
		}
		fmt.Printf("%s: SIGHUP received\n", name)
		if len(args) > 0 {
			b, err := os.ReadFile(args[0])
			if err != nil {
				fmt.Printf("%s: error=%v\n", name, err)
				continue
			}
			fmt.Printf("%s: content=%q\n", name, b)
		}
	}
}
