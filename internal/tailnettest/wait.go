package tailnettest

import (
	"errors"
	"fmt"
	"time"
)

// eventually calls f every interval until it reports done, returns an
// error, or timeout passes; the error then says what was awaited and the
// last reason f gave.
func eventually(what string, timeout, interval time.Duration, f func() (done bool, why error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, why := f()
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			if why == nil {
				why = errors.New("no reason given")
			}
			return fmt.Errorf("%s: not after %v: %w", what, timeout, why)
		}
		time.Sleep(interval)
	}
}
