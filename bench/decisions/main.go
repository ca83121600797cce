// Command decisions writes a decision log of a million lines (one every 37 ms
// from 2026-11-30T00:00Z, one in ten denied) to stdout, for the `bottle logs`
// benchmark in BENCHMARKS.md.
package main

import (
	"bufio"
	"fmt"
	"os"
	"time"
)

func main() {
	w := bufio.NewWriter(os.Stdout)
	t := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 1000000; i++ {
		t = t.Add(37 * time.Millisecond)
		dec, reason, status := "allow", "", 200
		if i%10 == 0 {
			dec, reason, status = "deny", `,"reason":"no route"`, 403
		}
		fmt.Fprintf(w, `{"time":"%s","client":"10.213.0.3:4%04d","method":"GET","host":"api%d.example.com","path":"/v1/models/%d","decision":"%s","route":"api.example.com","status":%d,"bytes":%d,"duration":%.3f%s,"mode":"intercept","inject":"X-Api-Key"}`+"\n",
			t.Format(time.RFC3339Nano), i%10000, i%7, i, dec, status, 100+i%900, float64(i%1000)/7, reason)
	}
	w.Flush()
}
