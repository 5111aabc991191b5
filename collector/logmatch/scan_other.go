//go:build !amd64 || purego

package logmatch

// Without the kernel, Match takes the Go fast path for every line.
const haveScan = false

func scanUsual(line []byte, t *scanTable) int { return scanUndecided }
