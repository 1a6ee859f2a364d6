package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/jitaccess/jit/provider"
)

// Provider type names used in jit.yaml.
const (
	TypeSSO = "aws-sso"
	TypeIAM = "aws-iam"
)

func init() {
	provider.Register(TypeSSO, NewSSO)
	provider.Register(TypeIAM, NewIAM)
}

// NamePrefix starts the name of everything jit creates in AWS: the
// per-request identity store groups and the inline policies.
const NamePrefix = "jit-"

// Defaults of the settings and options.
const (
	DefaultPollInterval = 2 * time.Second
	DefaultTimeout      = 5 * time.Minute
	// maxBackoff bounds the wait between two retries of a conflicting
	// call, as a multiple of the poll interval.
	maxBackoffFactor = 16
)

// Options are what tests inject instead of what the settings and the
// environment describe.
type Options struct {
	// Credentials signs the calls; nil means the chain described in the
	// package documentation.
	Credentials sdkaws.CredentialsProvider
	// HTTPClient carries the calls; nil means the SDK's default.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PollInterval is the wait between two reads of an assignment's
	// status, and the first wait before retrying a call AWS refused with
	// a ConflictException (it doubles up to 16 times this). Zero means
	// DefaultPollInterval.
	PollInterval time.Duration
	// Getenv reads the environment for the credential chain; nil means
	// os.Getenv.
	Getenv func(string) string
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
}

// connection is the AWS configuration shared by both types.
type connection struct {
	region   string
	endpoint string
	profile  string
}

func parseConnection(s *provider.Settings, defaultRegion string) connection {
	c := connection{
		region:   s.String("region", defaultRegion == ""),
		endpoint: s.String("endpoint", false),
		profile:  s.String("profile", false),
	}
	if c.region == "" {
		c.region = defaultRegion
	}
	if c.region != "" && !regionRE.MatchString(c.region) {
		s.Errorf("region", "%q is not an AWS region name such as eu-west-1", c.region)
	}
	checkEndpoint(s, "endpoint", c.endpoint)
	if c.profile != "" && strings.ContainsAny(c.profile, "[]\r\n") {
		s.Errorf("profile", "is not a profile name")
	}
	return c
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)

func checkEndpoint(s *provider.Settings, key, v string) {
	if v == "" {
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		s.Errorf(key, "must be an http or https URL without credentials")
	}
}

// awsConfig builds the SDK configuration by hand (the SDK's config
// module is not used): region from the settings, credentials from
// Options or the chain.
func (c connection) awsConfig(o Options) sdkaws.Config {
	cfg := sdkaws.Config{Region: c.region, Credentials: o.Credentials}
	if cfg.Credentials == nil {
		cfg.Credentials = newCredentials(c.profile, o.Getenv)
	}
	if o.HTTPClient != nil {
		cfg.HTTPClient = o.HTTPClient
	}
	return cfg
}

// endpointOption returns v as an SDK BaseEndpoint, nil when unset.
func endpointOption(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

// requestIDRE is what may follow NamePrefix in an IAM policy name
// ([\w+=,.@-], 128 characters in all); jit's own IDs ("req_" and a UUID)
// match it. Identity store group names accept the same.
var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9_+=,.@-]{1,124}$`)

func checkRequestID(id string) error {
	if !requestIDRE.MatchString(id) {
		return fmt.Errorf("request ID %q cannot name an AWS object (letters, digits and _+=,.@- only, at most 124)", id)
	}
	return nil
}

// checkUser refuses a requester's email that cannot be written in a
// Marker: empty, longer than 254 bytes, not UTF-8, or holding spaces or
// control characters (a marker's fields are separated by spaces).
func checkUser(user string) error {
	if !markerValue(user) || len(user) > 254 {
		return fmt.Errorf("user %q is not an email jit can record in AWS", user)
	}
	return nil
}

// markerValue reports whether s can be a field value of a Marker.
func markerValue(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// Marker is what jit writes on the objects it creates (an identity store
// group's description, an inline policy's Id) so that a listing or sweep
// can tell its own objects and their request from the target alone.
// Format: "jit request=<id> access=<level> user=<email> expires=<RFC
// 3339>" (fields in any order; unknown fields are ignored).
type Marker struct {
	RequestID string
	Access    string
	User      string
	ExpiresAt time.Time
}

const markerTag = "jit"

// String formats m. Empty fields are left out.
func (m Marker) String() string {
	parts := []string{markerTag, "request=" + m.RequestID}
	if m.Access != "" {
		parts = append(parts, "access="+m.Access)
	}
	if m.User != "" {
		parts = append(parts, "user="+m.User)
	}
	if !m.ExpiresAt.IsZero() {
		parts = append(parts, "expires="+m.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, " ")
}

// ParseMarker reads a Marker. It reports false for text jit did not
// write (no leading "jit", no request, a malformed field), which callers
// treat as an object that is not theirs.
func ParseMarker(s string) (Marker, bool) {
	fields := strings.Fields(s)
	if len(fields) < 2 || fields[0] != markerTag {
		return Marker{}, false
	}
	var m Marker
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok || v == "" || seen[k] {
			return Marker{}, false
		}
		seen[k] = true
		switch k {
		case "request":
			if checkRequestID(v) != nil {
				return Marker{}, false
			}
			m.RequestID = v
		case "access":
			m.Access = v
		case "user":
			m.User = v
		case "expires":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return Marker{}, false
			}
			m.ExpiresAt = t.UTC()
		}
	}
	if m.RequestID == "" {
		return Marker{}, false
	}
	return m, true
}

// errorCode returns the AWS error code of err ("ConflictException",
// "NoSuchEntity"), or "" when err is not an API error.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// rejected reports whether AWS refused the call as the caller's fault
// (validation, missing entity, limits), so that it certainly changed
// nothing.
func rejected(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorFault() == smithy.FaultClient
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryConflict calls f until it returns something other than a
// ConflictException (AWS answers so while another operation on the same
// permission set or group is in flight, typically just after a create),
// waiting interval, then twice that, up to 16 times it, for as long as
// ctx lasts.
func retryConflict(ctx context.Context, interval time.Duration, f func() error) error {
	wait := interval
	for {
		err := f()
		if err == nil || errorCode(err) != "ConflictException" {
			return err
		}
		if serr := sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w (gave up waiting for it: %v)", err, serr)
		}
		if wait < maxBackoffFactor*interval {
			wait *= 2
		}
	}
}

// errRepeatedToken ends a listing whose API answered a page token it had
// answered before: following it would ask for the same pages for ever.
// Every paginator also sets StopOnDuplicateToken, but the SDK notices
// only a token repeated at once, and then ends the listing silently
// short, which a listing must not be (the reconciler and Sweep act on
// what it holds; a check would miss what it did not read).
var errRepeatedToken = errors.New("the API answered a page token it had answered before, so the listing cannot be completed")

// pageTokens remembers the page tokens one listing was answered.
type pageTokens map[string]bool

// next records the token of the page just read (nil or "" on the last
// page) and returns errRepeatedToken when it was answered before.
func (s pageTokens) next(tok *string) error {
	if tok == nil || *tok == "" {
		return nil
	}
	if s[*tok] {
		return errRepeatedToken
	}
	s[*tok] = true
	return nil
}

// iamMarker is the page token of an IAM list answer: Marker, when the
// answer says it is truncated.
func iamMarker(truncated bool, marker *string) *string {
	if !truncated {
		return nil
	}
	return marker
}

// levels returns the sorted keys of m.
func levels[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
