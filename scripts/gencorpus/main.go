// Command gencorpus writes a proxy's log as tailscaled writes it to a file
// or to journalctl's output (see logmatchtest.Generator), for
// scripts/bench-stdin.sh. It prints the number of lines written.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch/logmatchtest"
)

func main() {
	out := flag.String("o", "", "file to write")
	size := flag.Int64("mb", 300, "stop after this many MiB")
	flag.Parse()
	if *out == "" {
		log.Fatal("gencorpus: -o FILE is required")
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	g := logmatchtest.NewGenerator(1)
	var line []byte
	var written int64
	lines := 0
	for written < *size<<20 {
		line = append(g.Append(line[:0]), '\n')
		if _, err := w.Write(line); err != nil {
			log.Fatalf("gencorpus: write %s: %v", *out, err)
		}
		written += int64(len(line))
		lines++
	}
	if err := w.Flush(); err != nil {
		log.Fatalf("gencorpus: write %s: %v", *out, err)
	}
	if err := f.Close(); err != nil {
		log.Fatalf("gencorpus: close %s: %v", *out, err)
	}
	fmt.Println(lines)
}
