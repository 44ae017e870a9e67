// Microbenchmark loop for bench/run.mjs: time.Now() through Go's own vDSO
// path.  Same protocol as micro.c: "B op n" / "E op n" markers on stdout,
// timed from outside the sandbox, never by the program itself.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

var sink int64

func main() {
	args := os.Args[1:]
	if len(args) == 0 || len(args)%2 != 0 {
		fmt.Fprintln(os.Stderr, "usage: gonow OP N [OP N ...]")
		os.Exit(2)
	}
	for i := 0; i < len(args); i += 2 {
		op := args[i]
		n, err := strconv.ParseInt(args[i+1], 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Stdout.WriteString(fmt.Sprintf("B %s %d\n", op, n))
		switch op {
		case "go_time_now":
			for j := int64(0); j < n; j++ {
				sink += time.Now().UnixNano()
			}
		case "go_since":
			// monotonic reads only (time.Since of a fixed start)
			start := time.Now()
			for j := int64(0); j < n; j++ {
				sink += int64(time.Since(start))
			}
		default:
			fmt.Fprintln(os.Stderr, "gonow: unknown op", op)
			os.Exit(2)
		}
		os.Stdout.WriteString(fmt.Sprintf("E %s %d\n", op, n))
	}
}
