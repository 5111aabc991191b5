package kubetest

import (
	"path/filepath"
	"strings"
	"testing"
)

// A missing tool must fail a test with the fix, never skip it.
func TestMissingToolsFailWithHint(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		name    string
		setup   func(t *testing.T)
		find    func() (string, error)
		wantErr string
	}{
		{
			name: "etcd nowhere",
			setup: func(t *testing.T) {
				t.Setenv("PATH", t.TempDir())
				t.Setenv(EtcdEnv, "")
				old := etcdFallback
				etcdFallback = missing
				t.Cleanup(func() { etcdFallback = old })
			},
			find:    etcdBinary,
			wantErr: "apt-get install etcd-server",
		},
		{
			name:    "etcd override missing",
			setup:   func(t *testing.T) { t.Setenv(EtcdEnv, missing) },
			find:    etcdBinary,
			wantErr: "$" + EtcdEnv,
		},
		{
			name:    "apiserver override missing",
			setup:   func(t *testing.T) { t.Setenv(APIServerEnv, missing) },
			find:    buildAPIServer,
			wantErr: "$" + APIServerEnv,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup(t)
			path, err := tc.find()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("find = %q, %v; want an error mentioning %q", path, err, tc.wantErr)
			}
		})
	}
}
