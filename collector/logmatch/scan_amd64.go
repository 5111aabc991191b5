//go:build amd64 && !purego

package logmatch

import "golang.org/x/sys/cpu"

const haveScan = true

func init() { scanK.avx2 = cpu.X86.HasAVX2 }

// scanUsual is in scan_amd64.s. line has at least scanMinLen bytes.
//
//go:noescape
func scanUsual(line []byte, t *scanTable) int
