package client

import (
	"context"
	"net/http"
	"net/url"
)

// HostOffer is an SSH resource covering a host, as GET /ssh lists it.
type HostOffer struct {
	Resource      string       `json:"resource"`
	DefaultAccess string       `json:"default_access,omitempty"`
	MaxDuration   string       `json:"max_duration"`
	Access        []HostAccess `json:"access"`
}

// HostAccess is an access level of a HostOffer and the login names
// (principals) its certificates carry.
type HostAccess struct {
	Name       string   `json:"name"`
	Principals []string `json:"principals"`
}

// SSHHosts lists the SSH resources covering host that the caller may
// request.
func (c *Client) SSHHosts(ctx context.Context, host string) ([]HostOffer, error) {
	var v struct {
		Items []HostOffer `json:"items"`
	}
	err := c.call(ctx, http.MethodGet, "/ssh", url.Values{"host": {host}}, nil, &v)
	return v.Items, err
}
