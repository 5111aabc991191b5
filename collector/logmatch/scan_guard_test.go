//go:build amd64 && !purego && unix

package logmatch

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestScanReadsOnlyTheLine puts lines of every length just before a page
// the process may not read, so that a load past the line's end crashes the
// test instead of reading a neighbour's bytes.
func TestScanReadsOnlyTheLine(t *testing.T) {
	page := unix.Getpagesize()
	mem, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	defer unix.Munmap(mem)
	if err := unix.Mprotect(mem[page:], unix.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	msg := strings.Repeat("a: ", 40) // prefixes all the way: the kernel reads the most
	n := 0
	for _, p := range scanPrefixes {
		for l := scanMinLen; l <= len(p)+len(msg) && l <= page; l++ {
			line := mem[page-l : page : page]
			copy(line, p+msg)
			checkScan(t, line)
			n++
		}
	}
	if n < 500 {
		t.Fatalf("only %d lines read next to the guard page", n)
	}
}
