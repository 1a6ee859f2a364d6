// Package subject is the stored form of what a request names beyond its
// resource and access level, shared by the stores: its target, the SSH key
// it certifies, and what the provider's check found (labels, peers), as
// one JSON object.
//
// Like the privileges, these fields are fixed at submit and the stores
// refuse an update that changes them by comparing the stored text with the
// update's (invariant 1), so the form is canonical: the same fields always
// encode to the same text, and a request without any encodes as "{}".
package subject

import (
	"encoding/json"
	"fmt"

	"github.com/jitaccess/jit"
)

// stored is the JSON object; field order is fixed by the struct, and empty
// fields are left out.
type stored struct {
	Target        string   `json:"target,omitempty"`
	TargetSummary string   `json:"target_summary,omitempty"`
	SSHPublicKey  string   `json:"ssh_public_key,omitempty"`
	Labels        []string `json:"labels,omitempty"`
	Peers         []string `json:"peers,omitempty"`
	PeersFromTgt  bool     `json:"peers_from_target,omitempty"`
}

// Encode returns the stored form of r's target fields.
func Encode(r *jit.Request) (string, error) {
	b, err := json.Marshal(stored{
		Target: r.Target, TargetSummary: r.TargetSummary, SSHPublicKey: r.SSHPublicKey,
		Labels: r.Labels, Peers: r.Peers, PeersFromTgt: r.PeersFromTarget,
	})
	if err != nil {
		return "", fmt.Errorf("encode request subject: %w", err)
	}
	return string(b), nil
}

// Decode reads the stored form b into r. Empty lists decode as nil, so
// that what was stored reads back equal whichever empty form it was given
// in.
func Decode(b []byte, r *jit.Request) error {
	var s stored
	if len(b) > 0 {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("decode request subject: %w", err)
		}
	}
	r.Target, r.TargetSummary, r.SSHPublicKey = s.Target, s.TargetSummary, s.SSHPublicKey
	r.Labels, r.Peers, r.PeersFromTarget = nil, nil, s.PeersFromTgt
	if len(s.Labels) > 0 {
		r.Labels = s.Labels
	}
	if len(s.Peers) > 0 {
		r.Peers = s.Peers
	}
	return nil
}
