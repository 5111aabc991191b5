package source

import (
	"context"
	"fmt"
	"io"
	"os"
)

// NewFile returns a Source that reads the policy from path on every Read, so
// an updated ConfigMap or git checkout is seen without a restart. Files larger
// than DefaultMaxBytes are refused.
func NewFile(path string) Source {
	return &fileSource{path: path, maxBytes: DefaultMaxBytes}
}

type fileSource struct {
	path     string
	maxBytes int64
}

func (f *fileSource) String() string { return "file " + f.path }

// Read ignores ctx: reading a regular file does not block for long, and
// anything else (a FIFO, a device) is refused before it is opened.
func (f *fileSource) Read(context.Context) ([]byte, error) {
	// Stat first: opening a FIFO would block until someone writes to it.
	st, err := os.Stat(f.path)
	if err != nil {
		return nil, f.fail(KindRead, fmt.Errorf("cannot read the policy file (check the path and the volume that holds it): %w", err))
	}
	if st.IsDir() {
		return nil, f.fail(KindRead, fmt.Errorf("is a directory; give the path of the policy file itself"))
	}
	if !st.Mode().IsRegular() {
		return nil, f.fail(KindRead, fmt.Errorf("is not a regular file (%s)", st.Mode().Type()))
	}
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, f.fail(KindRead, fmt.Errorf("cannot read the policy file: %w", err))
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, f.maxBytes+1))
	if err != nil {
		return nil, f.fail(KindRead, fmt.Errorf("cannot read the policy file: %w", err))
	}
	if int64(len(data)) > f.maxBytes {
		return nil, f.fail(KindTooLarge, fmt.Errorf("larger than %s; is it the policy file?", sizeString(f.maxBytes)))
	}
	return data, nil
}

func (f *fileSource) fail(kind Kind, err error) *Error {
	return &Error{Source: f.String(), Kind: kind, Err: err}
}
