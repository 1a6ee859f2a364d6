package aws

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
)

// Environment variables the credential chain reads.
const (
	envAccessKeyID        = "AWS_ACCESS_KEY_ID"
	envSecretAccessKey    = "AWS_SECRET_ACCESS_KEY"
	envSessionToken       = "AWS_SESSION_TOKEN"
	envProfile            = "AWS_PROFILE"
	envSharedCredentials  = "AWS_SHARED_CREDENTIALS_FILE"
	envContainerFullURI   = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	envContainerRelURI    = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
	envContainerToken     = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
	envContainerTokenFile = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
	// containerHost is where ECS serves a container's credentials for a
	// relative URI.
	containerHost = "http://169.254.170.2"
)

// maxCredentialsFile bounds what is read of a shared credentials file.
const maxCredentialsFile = 1 << 20

// credentialChain finds credentials where the AWS command line tools
// would, without the SDK's config module: the environment, the shared
// credentials file, then the container credentials endpoint. It reads
// them at each Retrieve, so it is wrapped in an sdkaws.CredentialsCache.
// Errors name the sources tried, never a secret.
type credentialChain struct {
	// profile is the profile setting; when set only that profile of the
	// shared file is used.
	profile string
	getenv  func(string) string
	home    func() (string, error)
}

var _ sdkaws.CredentialsProvider = (*credentialChain)(nil)

func newCredentials(profile string, getenv func(string) string) sdkaws.CredentialsProvider {
	if getenv == nil {
		getenv = os.Getenv
	}
	return sdkaws.NewCredentialsCache(&credentialChain{profile: profile, getenv: getenv, home: os.UserHomeDir})
}

// Retrieve returns the first credentials found. An error means none was
// found or a source that is configured is broken (a profile without a
// secret key); it says which, without echoing values.
func (c *credentialChain) Retrieve(ctx context.Context) (sdkaws.Credentials, error) {
	if err := ctx.Err(); err != nil {
		return sdkaws.Credentials{}, err
	}
	if c.profile == "" {
		creds, ok, err := c.fromEnv()
		if err != nil || ok {
			return creds, err
		}
	}
	creds, ok, err := c.fromFile()
	if err != nil || ok {
		return creds, err
	}
	if c.profile != "" {
		return sdkaws.Credentials{}, fmt.Errorf("aws credentials: profile %q not found in the shared credentials file", c.profile)
	}
	creds, ok, err = c.fromContainer(ctx)
	if err != nil || ok {
		return creds, err
	}
	return sdkaws.Credentials{}, errors.New("aws credentials: none found (tried " + envAccessKeyID + ", the shared credentials file and the container credentials endpoint)")
}

func (c *credentialChain) fromEnv() (sdkaws.Credentials, bool, error) {
	id, secret := c.getenv(envAccessKeyID), c.getenv(envSecretAccessKey)
	switch {
	case id == "" && secret == "":
		return sdkaws.Credentials{}, false, nil
	case id == "":
		return sdkaws.Credentials{}, false, errors.New("aws credentials: " + envSecretAccessKey + " is set but " + envAccessKeyID + " is not")
	case secret == "":
		return sdkaws.Credentials{}, false, errors.New("aws credentials: " + envAccessKeyID + " is set but " + envSecretAccessKey + " is not")
	}
	return sdkaws.Credentials{
		AccessKeyID: id, SecretAccessKey: secret, SessionToken: c.getenv(envSessionToken),
		Source: "environment",
	}, true, nil
}

func (c *credentialChain) credentialsFile() (string, error) {
	if f := c.getenv(envSharedCredentials); f != "" {
		return f, nil
	}
	home, err := c.home()
	if err != nil || home == "" {
		// No home directory: there is no default file to read.
		return "", nil
	}
	return filepath.Join(home, ".aws", "credentials"), nil
}

func (c *credentialChain) fromFile() (sdkaws.Credentials, bool, error) {
	path, err := c.credentialsFile()
	if err != nil || path == "" {
		return sdkaws.Credentials{}, false, err
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return sdkaws.Credentials{}, false, nil
	}
	if err != nil {
		return sdkaws.Credentials{}, false, fmt.Errorf("aws credentials: open shared credentials file: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(&limitedReader{r: f, n: maxCredentialsFile}); err != nil {
		return sdkaws.Credentials{}, false, fmt.Errorf("aws credentials: read %s: %w", path, err)
	}
	profiles, err := ParseCredentialsFile(buf.Bytes())
	if err != nil {
		return sdkaws.Credentials{}, false, fmt.Errorf("aws credentials: %s: %w", path, err)
	}
	name := c.profile
	if name == "" {
		name = c.getenv(envProfile)
	}
	if name == "" {
		name = "default"
	}
	p, ok := profiles[name]
	if !ok {
		return sdkaws.Credentials{}, false, nil
	}
	id, secret := p["aws_access_key_id"], p["aws_secret_access_key"]
	if id == "" || secret == "" {
		return sdkaws.Credentials{}, false, fmt.Errorf("aws credentials: profile %q in %s needs aws_access_key_id and aws_secret_access_key (only static keys are read)", name, path)
	}
	return sdkaws.Credentials{
		AccessKeyID: id, SecretAccessKey: secret, SessionToken: p["aws_session_token"],
		Source: "shared credentials file",
	}, true, nil
}

// limitedReader fails, rather than truncating, past n bytes: half a
// credentials file would parse into wrong credentials.
type limitedReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errors.New("file is larger than 1 MiB")
	}
	return n, err
}

func (c *credentialChain) fromContainer(ctx context.Context) (sdkaws.Credentials, bool, error) {
	endpoint := c.getenv(envContainerFullURI)
	if rel := c.getenv(envContainerRelURI); rel != "" {
		endpoint = containerHost + rel
	}
	if endpoint == "" {
		return sdkaws.Credentials{}, false, nil
	}
	if err := checkContainerEndpoint(endpoint); err != nil {
		return sdkaws.Credentials{}, false, err
	}
	tokenFile, token := c.getenv(envContainerTokenFile), c.getenv(envContainerToken)
	p := endpointcreds.New(endpoint, func(o *endpointcreds.Options) {
		o.AuthorizationToken = token
		if tokenFile != "" {
			// Read at each retrieval: EKS rotates the token file.
			o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return "", fmt.Errorf("read %s: %w", envContainerTokenFile, err)
				}
				return strings.TrimSpace(string(b)), nil
			})
		}
	})
	creds, err := p.Retrieve(ctx)
	if err != nil {
		return sdkaws.Credentials{}, false, fmt.Errorf("aws credentials: container credentials endpoint: %w", err)
	}
	return creds, true, nil
}

// checkContainerEndpoint accepts what the AWS SDKs accept for a full
// URI: HTTPS anywhere, plain HTTP only to loopback and the ECS and EKS
// link-local addresses, so that credentials are never fetched from a
// host an environment variable could point anywhere.
func checkContainerEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return errors.New("aws credentials: the container credentials URI is not a URL")
	}
	if u.Scheme == "https" {
		return nil
	}
	if u.Scheme != "http" {
		return errors.New("aws credentials: the container credentials URI must be http or https")
	}
	host := u.Hostname()
	switch host {
	case "169.254.170.2", "169.254.170.23", "fd00:ec2::23", "localhost":
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return errors.New("aws credentials: a plain-HTTP container credentials URI must be a loopback or ECS/EKS link-local address")
}

// ParseCredentialsFile parses a shared credentials file (INI: [profile]
// sections of key = value lines, # and ; comments) into profiles of
// lower-cased keys. It refuses what it cannot read exactly (a key outside
// a section, a line without "=", an unterminated section header), naming
// the line but never echoing a value.
func ParseCredentialsFile(data []byte) (map[string]map[string]string, error) {
	profiles := map[string]map[string]string{}
	var cur map[string]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxCredentialsFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return nil, fmt.Errorf("line %d: section header without ]", n)
			}
			if rest := strings.TrimSpace(line[end+1:]); rest != "" && rest[0] != '#' && rest[0] != ';' {
				return nil, fmt.Errorf("line %d: text after the section header", n)
			}
			name := strings.TrimSpace(line[1:end])
			// The config file's "[profile x]" form is accepted too.
			name = strings.TrimSpace(strings.TrimPrefix(name, "profile "))
			if name == "" {
				return nil, fmt.Errorf("line %d: empty section name", n)
			}
			if profiles[name] == nil {
				profiles[name] = map[string]string{}
			}
			cur = profiles[name]
			continue
		}
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			return nil, fmt.Errorf("line %d: expected key = value", n)
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d: key outside a [profile] section", n)
		}
		key := strings.ToLower(strings.TrimSpace(line[:eq]))
		if key == "" {
			return nil, fmt.Errorf("line %d: empty key", n)
		}
		cur[key] = strings.TrimSpace(line[eq+1:])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return profiles, nil
}
