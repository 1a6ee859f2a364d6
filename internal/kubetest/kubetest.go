// Package kubetest starts a real kube-apiserver and etcd (through
// controller-runtime's envtest) for tests that need Kubernetes
// authentication and RBAC authorisation to behave as in a cluster.
// .ci/kube-assets builds the binaries (kube-apiserver v1.34.2, etcd 3.6.4)
// into a cache folder; KUBEBUILDER_ASSETS names it.
package kubetest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// AssetsVersion names the cache folder that .ci/kube-assets fills; it must
// match the versions pinned in tools/kube/go.mod.
const AssetsVersion = "v1.34.2-etcd3.6.4"

// Env is a running control plane. Admin authenticates as a member of
// system:masters, so it bypasses RBAC; users made with NewUser start with
// no permissions at all.
type Env struct {
	Admin *rest.Config
	env   *envtest.Environment
}

// assetsDir returns the folder holding kube-apiserver and etcd:
// KUBEBUILDER_ASSETS when set, else the folder .ci/kube-assets builds into.
func assetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		root := os.Getenv("JIT_KUBE_CACHE")
		if root == "" {
			cache, err := os.UserCacheDir()
			if err != nil {
				return "", fmt.Errorf("locate the user cache folder: %w", err)
			}
			root = filepath.Join(cache, "jit-kube")
		}
		dir = filepath.Join(root, AssetsVersion)
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%s not found in %s: %w", name, dir, err)
		}
	}
	return dir, nil
}

// Start launches etcd and kube-apiserver for the test and stops them in
// t.Cleanup. It skips the test when the binaries are missing, unless
// CI=true, where it fails instead so that a broken set-up cannot pass
// unnoticed.
func Start(t testing.TB) *Env {
	t.Helper()
	dir, err := assetsDir()
	if err != nil {
		msg := fmt.Sprintf("no Kubernetes test binaries (run .ci/kube-assets and set KUBEBUILDER_ASSETS to the folder it prints): %v", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// envtest logs through controller-runtime's global logger and prints
	// a stack trace when none was ever set.
	ctrllog.SetLogger(logr.Discard())
	env := &envtest.Environment{
		BinaryAssetsDirectory: dir,
		// A loaded two-core machine can take longer than envtest's 20 s
		// default to bring the API server up.
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	// envtest's default is RBAC already; set so that the tests keep
	// meaning what they say should the default change.
	env.ControlPlane.GetAPIServer().Configure().Set("authorization-mode", "RBAC")
	admin, err := env.Start()
	if err != nil {
		// Start can leave etcd running when the API server fails.
		t.Fatalf("start kube-apiserver and etcd from %s: %v", dir, errors.Join(err, env.Stop()))
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop kube-apiserver and etcd: %v", err)
		}
	})
	return &Env{Admin: admin, env: env}
}

// NewUser provisions a client-certificate identity with the given user
// name and groups and returns a config that authenticates as it.
func (e *Env) NewUser(t testing.TB, name string, groups ...string) *rest.Config {
	t.Helper()
	u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		t.Fatalf("add Kubernetes user %q: %v", name, err)
	}
	return u.Config()
}
