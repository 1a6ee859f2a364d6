package sshca

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/jitaccess/jit/provider"
)

// Defaults of the settings.
const (
	DefaultClockSkew   = time.Minute
	DefaultMaxValidity = 12 * time.Hour
	// maxClockSkew and maxMaxValidity catch settings that are surely
	// mistakes (a skew of a day, certificates valid for a year).
	maxClockSkew   = time.Hour
	maxMaxValidity = 30 * 24 * time.Hour
	// maxForceCommand bounds the force_command setting.
	maxForceCommand = 4096
)

// Certificate extensions that the extensions setting may list (OpenSSH's
// PROTOCOL.certkeys).
const (
	ExtX11Forwarding   = "permit-X11-forwarding"
	ExtAgentForwarding = "permit-agent-forwarding"
	ExtPortForwarding  = "permit-port-forwarding"
	ExtPTY             = "permit-pty"
	ExtUserRC          = "permit-user-rc"
)

// Extensions lists the certificate extensions that may be granted.
var Extensions = []string{ExtX11Forwarding, ExtAgentForwarding, ExtPortForwarding, ExtPTY, ExtUserRC}

// DefaultExtensions is the default of the extensions setting: a terminal,
// and no forwarding of any kind.
var DefaultExtensions = []string{ExtPTY}

// Critical options of OpenSSH user certificates that the settings set.
const (
	optSourceAddress = "source-address"
	optForceCommand  = "force-command"
)

// config is the decoded settings of one resource.
type config struct {
	resource  string
	caKeyFile string
	// hosts are lower-case patterns.
	hosts []string
	// principals maps each access level to its principals, in the
	// order given.
	principals map[string][]string
	// sourceAddress is the canonical, comma-separated CIDR list, or "".
	sourceAddress string
	forceCommand  string
	// extensions are sorted.
	extensions  []string
	clockSkew   time.Duration
	maxValidity time.Duration
	keys        keyPolicy
}

// parseConfig decodes and validates r.Settings. Every problem is a
// *provider.SettingError naming its key ("principals.deploy" for one
// level). It reads no file: the CA key is read at first use, so that the
// configuration can be checked where the key is not.
func parseConfig(r provider.Resource) (config, error) {
	s := provider.NewSettings(r.Settings)
	c := config{resource: r.Name}
	var nested []error

	c.caKeyFile = s.String("ca_key_file", true)
	if c.caKeyFile != "" && strings.ContainsRune(c.caKeyFile, 0) {
		s.Errorf("ca_key_file", "must not contain a NUL byte")
	}

	for _, h := range s.StringList("hosts", true) {
		if err := checkHostPattern(h); err != nil {
			s.Errorf("hosts", "%v", err)
			continue
		}
		h = strings.ToLower(h)
		if !contains(c.hosts, h) {
			c.hosts = append(c.hosts, h)
		}
	}

	if s.Has("principals") {
		c.principals, nested = parsePrincipals(r.Settings["principals"], r.Access)
	} else {
		s.Errorf("principals", "is required: a map from each access level (%s) to the principals its certificates carry", describeAccess(r.Access))
	}

	if s.Has("source_address") {
		// An empty list would read as "no restriction": leaving the
		// setting out says that, a list must say where from.
		var canon []string
		for _, a := range s.StringList("source_address", true) {
			p, err := parseSourceAddress(a)
			if err != nil {
				s.Errorf("source_address", "%v", err)
				continue
			}
			if !contains(canon, p) {
				canon = append(canon, p)
			}
		}
		c.sourceAddress = strings.Join(canon, ",")
	}

	c.forceCommand = s.String("force_command", false)
	if s.Has("force_command") {
		switch {
		case strings.TrimSpace(c.forceCommand) == "":
			s.Errorf("force_command", "must not be empty; leave the setting out to allow any command")
		case len(c.forceCommand) > maxForceCommand:
			s.Errorf("force_command", "is longer than %d bytes", maxForceCommand)
		case strings.ContainsFunc(c.forceCommand, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			s.Errorf("force_command", "must be one line without control characters")
		}
	}

	if s.Has("extensions") {
		for _, e := range s.StringList("extensions", false) {
			if !contains(Extensions, e) {
				s.Errorf("extensions", "%q is not a certificate extension jit grants (known: %s)", e, strings.Join(Extensions, ", "))
				continue
			}
			if !contains(c.extensions, e) {
				c.extensions = append(c.extensions, e)
			}
		}
	} else {
		c.extensions = append([]string(nil), DefaultExtensions...)
	}
	sort.Strings(c.extensions)

	c.clockSkew = s.Duration("clock_skew", DefaultClockSkew)
	if c.clockSkew > maxClockSkew {
		s.Errorf("clock_skew", "must be at most %s, got %s", maxClockSkew, c.clockSkew)
	}
	c.maxValidity = s.Duration("max_validity", DefaultMaxValidity)
	if c.maxValidity > maxMaxValidity {
		s.Errorf("max_validity", "must be at most %s, got %s", maxMaxValidity, c.maxValidity)
	}

	if s.Has("key_types") {
		for _, t := range s.StringList("key_types", true) {
			switch {
			case t == keyTypeDSA:
				s.Errorf("key_types", "DSA (ssh-dss) keys are too weak to be allowed")
			case !contains(KeyTypes, t):
				s.Errorf("key_types", "%q is not a key type (known: %s)", t, strings.Join(KeyTypes, ", "))
			case !contains(c.keys.types, t):
				c.keys.types = append(c.keys.types, t)
			}
		}
	} else {
		c.keys.types = append([]string(nil), KeyTypes...)
	}
	c.keys.minRSABits = s.Int("rsa_min_bits", DefaultMinRSABits)
	if c.keys.minRSABits < minRSABitsAllowed || c.keys.minRSABits > maxRSABits {
		s.Errorf("rsa_min_bits", "must be from %d to %d, got %d", minRSABitsAllowed, maxRSABits, c.keys.minRSABits)
	}
	return c, errors.Join(append([]error{s.Err()}, nested...)...)
}

// parsePrincipals decodes the principals map: every access level of the
// resource has at least one principal, and every key is an access level.
func parsePrincipals(v any, access []string) (map[string][]string, []error) {
	m, ok := provider.AsMap(v)
	if !ok {
		return nil, []error{&provider.SettingError{Key: "principals", Err: errors.New("must be a map from access level names to lists of principals")}}
	}
	s := provider.NewSettings(m)
	out := map[string][]string{}
	var errs []error
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !contains(access, name) {
			// Marked as known here so that Err does not report it a
			// second time as an unknown setting.
			s.Errorf(name, "is not an access level of the resource (its access levels: %s)", describeAccess(access))
			continue
		}
		var ps []string
		for _, p := range s.StringList(name, true) {
			if err := checkPrincipal(p); err != nil {
				s.Errorf(name, "%v", err)
				continue
			}
			if !contains(ps, p) {
				ps = append(ps, p)
			}
		}
		if len(ps) > 0 {
			out[name] = ps
		}
	}
	for _, a := range access {
		if _, ok := m[a]; !ok {
			errs = append(errs, &provider.SettingError{Key: "principals", Err: fmt.Errorf("access level %q of the resource has no principals", a)})
		}
	}
	return out, append(provider.Nested("principals", s.Err()), errs...)
}

// parseSourceAddress reads one source_address entry, an address or a
// CIDR prefix without host bits, and returns it in canonical CIDR form.
func parseSourceAddress(a string) (string, error) {
	if a != strings.TrimSpace(a) || a == "" {
		return "", fmt.Errorf("%q is not an address or CIDR prefix", a)
	}
	if strings.Contains(a, "/") {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return "", fmt.Errorf("%q is not a CIDR prefix such as 10.0.0.0/8", a)
		}
		if p.Masked() != p {
			return "", fmt.Errorf("%q has host bits set: did you mean %s?", a, p.Masked())
		}
		return p.String(), nil
	}
	ip, err := netip.ParseAddr(a)
	if err != nil || ip.Zone() != "" {
		return "", fmt.Errorf("%q is not an address or CIDR prefix", a)
	}
	return netip.PrefixFrom(ip, ip.BitLen()).String(), nil
}

func describeAccess(access []string) string {
	if len(access) == 0 {
		return "none"
	}
	return strings.Join(access, ", ")
}
