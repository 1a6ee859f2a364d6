package provider

import (
	"context"
	"testing"
)

type plainProvider struct{}

func (plainProvider) Grant(context.Context, GrantRequest) (GrantResponse, error) {
	return GrantResponse{}, nil
}
func (plainProvider) Revoke(context.Context, RevokeRequest) (RevokeResponse, error) {
	return RevokeResponse{}, nil
}
func (plainProvider) Verify(context.Context, VerifyRequest) (VerifyResponse, error) {
	return VerifyResponse{}, nil
}

type routedProvider struct {
	plainProvider
	enforced bool
}

func (routedProvider) Match(host, path string) bool     { return host == "a.example" }
func (routedProvider) Route() (host, pathPrefix string) { return "a.example", "/" }
func (r routedProvider) StoreEnforced() bool            { return r.enforced }

type wrapping struct {
	plainProvider
	inner Provider
}

func (w wrapping) Unwrap() Provider { return w.inner }

func TestAs(t *testing.T) {
	routed := routedProvider{enforced: true}
	tests := []struct {
		name         string
		p            Provider
		wantRouter   bool
		wantEnforced bool
	}{
		{"nil", nil, false, false},
		{"plain", plainProvider{}, false, false},
		{"direct", routed, true, true},
		{"direct, not enforced", routedProvider{}, true, false},
		{"wrapped once", wrapping{inner: routed}, true, true},
		{"wrapped twice", wrapping{inner: wrapping{inner: routed}}, true, true},
		{"wrapper around plain", wrapping{inner: plainProvider{}}, false, false},
		{"wrapper around nothing", wrapping{}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := As[Router](tt.p)
			if ok != tt.wantRouter {
				t.Fatalf("As[Router] ok = %v, want %v", ok, tt.wantRouter)
			}
			if ok && !r.Match("a.example", "/") {
				t.Error("As returned a Router that is not the inner one")
			}
			if got := IsStoreEnforced(tt.p); got != tt.wantEnforced {
				t.Errorf("IsStoreEnforced = %v, want %v", got, tt.wantEnforced)
			}
		})
	}
}
