// Package awstest holds in-process servers that speak the wire formats of
// the AWS APIs jit's AWS providers call, keeping state, so that the real
// SDK clients can be tested without a cloud: IAM Identity Center's SSO
// admin and identity store APIs (JSON 1.1, dispatched on X-Amz-Target,
// errors named by __type) and IAM (the Query protocol: form-encoded
// POSTs answered in XML, errors as ErrorResponse documents). Each server
// checks the Signature Version 4 signature of every call against the
// credentials it was given.
//
// They implement the operations the providers use, with the validation
// and error codes AWS documents for them, not the whole APIs.
package awstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Credentials are the static credentials the servers accept.
var Credentials = aws.Credentials{AccessKeyID: "AKIAJITTESTKEY000000", SecretAccessKey: "jit-test-secret-not-a-real-key"}

// CredentialsProvider returns Credentials for an SDK client.
func CredentialsProvider() aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return Credentials, nil })
}

// checkSignature verifies r's Signature Version 4 Authorization header:
// it signs a copy of the request holding only the headers the client
// signed, at the client's time, and compares.
func checkSignature(r *http.Request, body []byte, service string) error {
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		return errors.New("no AWS4-HMAC-SHA256 Authorization header")
	}
	fields := map[string]string{}
	for _, f := range strings.Split(strings.TrimPrefix(auth, algo), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return errors.New("malformed credential scope")
	}
	if scope[0] != Credentials.AccessKeyID {
		return fmt.Errorf("unknown access key %q", scope[0])
	}
	if scope[3] != service {
		return fmt.Errorf("signed for service %q, want %q", scope[3], service)
	}
	region := scope[2]
	t, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return errors.New("missing or malformed X-Amz-Date")
	}
	cp, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h == "host" || h == "content-length" {
			continue
		}
		if v, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
			cp.Header[http.CanonicalHeaderKey(h)] = v
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), Credentials, cp, hex.EncodeToString(sum[:]), service, region, t); err != nil {
		return err
	}
	if got := cp.Header.Get("Authorization"); got != auth {
		return errors.New("signature does not match")
	}
	return nil
}
