package client

import (
	"context"
	"net/http"
	"net/url"
)

// Targets is the answer of GET /resources/{name}/targets.
type Targets struct {
	Items []string `json:"items"`
	// Truncated is true when the provider had more than it lists at once.
	Truncated bool `json:"truncated"`
}

// Targets lists the targets of resource under parent ("" for the top
// level) that a request may name.
func (c *Client) Targets(ctx context.Context, resource, parent string) (Targets, error) {
	var q url.Values
	if parent != "" {
		q = url.Values{"parent": {parent}}
	}
	var v Targets
	err := c.call(ctx, http.MethodGet, "/resources/"+url.PathEscape(resource)+"/targets", q, nil, &v)
	return v, err
}

// Kubeconfig returns a kubeconfig (YAML) for a Kubernetes resource: its
// cluster, a context named after it and the caller's sign-in method.
func (c *Client) Kubeconfig(ctx context.Context, resource string) ([]byte, error) {
	var v struct {
		Kubeconfig string `json:"kubeconfig"`
	}
	if err := c.call(ctx, http.MethodGet, "/resources/"+url.PathEscape(resource)+"/kubeconfig", nil, nil, &v); err != nil {
		return nil, err
	}
	return []byte(v.Kubeconfig), nil
}
