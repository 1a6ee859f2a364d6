package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/jitaccess/jit/provider"
)

// EKSAPI is the part of the EKS API the access entries mode uses;
// *eks.Client implements it.
type EKSAPI interface {
	CreateAccessEntry(ctx context.Context, in *eks.CreateAccessEntryInput, opts ...func(*eks.Options)) (*eks.CreateAccessEntryOutput, error)
	DescribeAccessEntry(ctx context.Context, in *eks.DescribeAccessEntryInput, opts ...func(*eks.Options)) (*eks.DescribeAccessEntryOutput, error)
	DeleteAccessEntry(ctx context.Context, in *eks.DeleteAccessEntryInput, opts ...func(*eks.Options)) (*eks.DeleteAccessEntryOutput, error)
	TagResource(ctx context.Context, in *eks.TagResourceInput, opts ...func(*eks.Options)) (*eks.TagResourceOutput, error)
	UntagResource(ctx context.Context, in *eks.UntagResourceInput, opts ...func(*eks.Options)) (*eks.UntagResourceOutput, error)
}

var _ EKSAPI = (*eks.Client)(nil)

// Tags on the access entries jit creates. An entry without TagManagedBy
// was made by someone else: jit never changes or deletes it. Each grant
// holding the entry has a tag TagGrantPrefix + 20 hex digits of the
// SHA-256 of its request ID (request IDs may hold characters tags may
// not), whose value is the grant's expiry (RFC 3339).
const (
	TagManagedBy   = "jit.dev/managed-by"
	TagGrantPrefix = "jit.dev/grant/"
	// maxTags is EKS's limit of tags on one resource.
	maxTags = 50
)

func grantTag(requestID string) string {
	return TagGrantPrefix + strings.TrimPrefix(ObjectName(requestID), objectNamePrefix)
}

// Where the container credentials endpoint lives for a relative URI (ECS).
const ecsCredentialsHost = "http://169.254.170.2"

// eksAPI returns the EKS client, building it from the settings on first
// use; that is when the credential environment is read.
func (p *Provider) eksAPI() (EKSAPI, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.eks != nil {
		return p.eks, nil
	}
	e := p.cfg.eks
	creds, err := eksCredentials(e)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	o := eks.Options{Region: e.region, Credentials: aws.NewCredentialsCache(creds), HTTPClient: hc}
	if e.endpoint != "" {
		o.BaseEndpoint = aws.String(e.endpoint)
	}
	p.eks, p.eksHTTP = eks.New(o), hc
	return p.eks, nil
}

// eksCredentials chooses the credentials of jit's own AWS identity:
// credential_process, static keys from the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), or the
// container credentials endpoint that EKS Pod Identity and ECS provide
// (AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI, with
// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or _TOKEN). "auto" takes the
// first of the last two that is set. Errors name variables, never values.
func eksCredentials(e *eksConfig) (aws.CredentialsProvider, error) {
	if e.credentialProcess != "" {
		return processcreds.NewProvider(e.credentialProcess), nil
	}
	env := func() (aws.CredentialsProvider, error) {
		id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
		if id == "" || secret == "" {
			return nil, errors.New("eks.access_entries: credentials environment needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
		return credentials.NewStaticCredentialsProvider(id, secret, os.Getenv("AWS_SESSION_TOKEN")), nil
	}
	container := func() (aws.CredentialsProvider, error) {
		uri := os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
		if uri == "" {
			if rel := os.Getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); rel != "" {
				uri = ecsCredentialsHost + rel
			}
		}
		if uri == "" {
			return nil, errors.New("eks.access_entries: credentials container needs AWS_CONTAINER_CREDENTIALS_FULL_URI or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (EKS Pod Identity, ECS)")
		}
		if err := checkContainerURI(uri); err != nil {
			return nil, err
		}
		tokenFile, token := os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"), os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
		return endpointcreds.New(uri, func(o *endpointcreds.Options) {
			switch {
			case tokenFile != "":
				// The token file is rotated: read it at every refresh.
				o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
					b, err := os.ReadFile(tokenFile)
					if err != nil {
						return "", fmt.Errorf("reading AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: %w", err)
					}
					return strings.TrimSpace(string(b)), nil
				})
			case token != "":
				o.AuthorizationToken = token
			}
		}), nil
	}
	switch e.credentials {
	case credentialsEnvironment:
		return env()
	case credentialsContainer:
		return container()
	}
	if os.Getenv("AWS_ACCESS_KEY_ID") != "" {
		return env()
	}
	if os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") != "" || os.Getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != "" {
		return container()
	}
	return nil, errors.New("eks.access_entries: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run with EKS Pod Identity (AWS_CONTAINER_CREDENTIALS_FULL_URI), or set credential_process")
}

// checkContainerURI refuses a plain-HTTP credentials endpoint anywhere but
// on loopback or the ECS and EKS Pod Identity link-local addresses, where
// a token sent in clear cannot leave the host, as the AWS SDKs do.
func checkContainerURI(uri string) error {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("eks.access_entries: the container credentials URI is not an http(s) URL")
	}
	if u.Scheme == "https" {
		return nil
	}
	host := u.Hostname()
	if host == "localhost" || host == "169.254.170.2" || host == "169.254.170.23" || host == "fd00:ec2::23" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return errors.New("eks.access_entries: a plain-HTTP container credentials URI must point at loopback or the ECS/EKS link-local address")
}

func isNotFound(err error) bool {
	var nf *ekstypes.ResourceNotFoundException
	return errors.As(err, &nf)
}

func isInUse(err error) bool {
	var iu *ekstypes.ResourceInUseException
	return errors.As(err, &iu)
}

// describeEntry returns the principal's access entry, or nil when there
// is none.
func describeEntry(ctx context.Context, api EKSAPI, cluster, arn string) (*ekstypes.AccessEntry, error) {
	out, err := api.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String(cluster), PrincipalArn: aws.String(arn)})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing the access entry of %s: %w", arn, err)
	}
	if out.AccessEntry == nil {
		return nil, fmt.Errorf("describing the access entry of %s: the answer has no access entry", arn)
	}
	return out.AccessEntry, nil
}

// activeGrants returns the grant tags of e other than skip whose expiry has
// not passed; tags that do not parse count as active (jit wrote them; it
// must not guess they are over).
func activeGrants(e *ekstypes.AccessEntry, skip string, now time.Time) []string {
	var out []string
	for k, v := range e.Tags {
		if !strings.HasPrefix(k, TagGrantPrefix) || k == skip {
			continue
		}
		if at, err := time.Parse(time.RFC3339, v); err == nil && !now.Before(at) {
			continue
		}
		out = append(out, k)
	}
	return out
}

// accessEntryGrant gives the principal an access entry mapping it to the
// requester's user name and records requestID on it as a tag. An entry
// jit made for other grants of the person just gains the tag; one made by
// someone else is used as it is if it maps to the same user name, and
// refused otherwise. Without conditional writes in the EKS API, grants and
// revokes of one person are serialised within this process; across
// replicas a revoke may delete an entry a simultaneous grant just tagged,
// which Verify then reports as missing.
func (p *Provider) accessEntryGrant(ctx context.Context, requestID, user string, pr IAMPrincipal, expires time.Time) (bool, error) {
	api, err := p.eksAPI()
	if err != nil {
		return false, provider.NotApplied(err)
	}
	p.eksMu.Lock()
	defer p.eksMu.Unlock()
	cluster, arn, username := p.cfg.eks.cluster, pr.String(), p.username(user)
	tag, exp := grantTag(requestID), expires.UTC().Format(time.RFC3339)
	entry, err := describeEntry(ctx, api, cluster, arn)
	if err != nil {
		return false, provider.NotApplied(err)
	}
	if entry == nil {
		_, err := api.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{
			ClusterName:  aws.String(cluster),
			PrincipalArn: aws.String(arn),
			Username:     aws.String(username),
			Type:         aws.String("STANDARD"),
			Tags:         map[string]string{TagManagedBy: ManagedByValue, tag: exp},
			// The same token for every attempt of this grant: EKS then
			// creates the entry once.
			ClientRequestToken: aws.String(ObjectName(requestID)),
		})
		if err == nil {
			return true, nil
		}
		if !isInUse(err) {
			return false, fmt.Errorf("creating the access entry of %s: %w", arn, err)
		}
		// Created meanwhile: by another grant of jit (fine), or by
		// someone else (checked below).
		if entry, err = describeEntry(ctx, api, cluster, arn); err != nil {
			return false, provider.NotApplied(err)
		}
		if entry == nil {
			return false, provider.NotApplied(fmt.Errorf("the access entry of %s is being created and deleted concurrently; retry", arn))
		}
	}
	got := aws.ToString(entry.Username)
	if entry.Tags[TagManagedBy] != ManagedByValue {
		if got == username {
			// Made by someone else with the same mapping: use it, never
			// remove it.
			return false, nil
		}
		return false, provider.NotApplied(fmt.Errorf("%s has an access entry, not made by jit, mapping it to the Kubernetes user %q instead of %q; jit does not change it", arn, got, username))
	}
	if got != username {
		return false, provider.NotApplied(fmt.Errorf("jit's access entry of %s maps it to the Kubernetes user %q, not %q", arn, got, username))
	}
	if entry.Tags[tag] == exp {
		return false, nil
	}
	// Tags of grants whose expiry passed are stale (their revoke was
	// lost): drop them so they never fill the tag limit.
	var stale []string
	for k, v := range entry.Tags {
		if at, err := time.Parse(time.RFC3339, v); strings.HasPrefix(k, TagGrantPrefix) && k != tag && err == nil && !p.now().Before(at) {
			stale = append(stale, k)
		}
	}
	if len(entry.Tags)-len(stale)+1 > maxTags {
		return false, provider.NotApplied(fmt.Errorf("the access entry of %s holds too many grants (EKS allows %d tags)", arn, maxTags))
	}
	if _, err := api.TagResource(ctx, &eks.TagResourceInput{ResourceArn: entry.AccessEntryArn, Tags: map[string]string{tag: exp}}); err != nil {
		return false, fmt.Errorf("tagging the access entry of %s: %w", arn, err)
	}
	if len(stale) > 0 {
		if _, err := api.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: entry.AccessEntryArn, TagKeys: stale}); err != nil {
			return true, fmt.Errorf("removing stale grant tags from the access entry of %s: %w", arn, err)
		}
	}
	return true, nil
}

// accessEntryRevoke removes requestID's tag from jit's access entry of
// the principal, and deletes the entry when no other unexpired grant
// holds it. An entry not made by jit is left alone. It is idempotent: a
// missing entry is success.
func (p *Provider) accessEntryRevoke(ctx context.Context, requestID string, pr IAMPrincipal) error {
	api, err := p.eksAPI()
	if err != nil {
		return err
	}
	p.eksMu.Lock()
	defer p.eksMu.Unlock()
	cluster, arn, tag := p.cfg.eks.cluster, pr.String(), grantTag(requestID)
	entry, err := describeEntry(ctx, api, cluster, arn)
	if err != nil || entry == nil {
		return err
	}
	if entry.Tags[TagManagedBy] != ManagedByValue {
		return nil
	}
	if _, held := entry.Tags[tag]; held {
		if _, err := api.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: entry.AccessEntryArn, TagKeys: []string{tag}}); err != nil && !isNotFound(err) {
			return fmt.Errorf("untagging the access entry of %s: %w", arn, err)
		}
		// Read again: another grant may have tagged it meanwhile.
		if entry, err = describeEntry(ctx, api, cluster, arn); err != nil || entry == nil {
			return err
		}
	}
	if len(activeGrants(entry, tag, p.now())) > 0 {
		return nil
	}
	_, err = api.DeleteAccessEntry(ctx, &eks.DeleteAccessEntryInput{ClusterName: aws.String(cluster), PrincipalArn: aws.String(arn)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting the access entry of %s: %w", arn, err)
	}
	return nil
}

// accessEntryMapped reports whether the principal has an access entry
// mapping it to username.
func (p *Provider) accessEntryMapped(ctx context.Context, pr IAMPrincipal, username string) (bool, error) {
	api, err := p.eksAPI()
	if err != nil {
		return false, err
	}
	entry, err := describeEntry(ctx, api, p.cfg.eks.cluster, pr.String())
	if err != nil || entry == nil {
		return false, err
	}
	return aws.ToString(entry.Username) == username, nil
}
