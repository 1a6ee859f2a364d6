//go:build tools

// Package kube pins the versions of kube-apiserver and etcd that the
// Kubernetes provider's integration tests run against; .ci/kube-assets
// builds the two binaries from this module.
package kube

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
