package kubernetes

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/jitaccess/jit/provider"
)

// BuiltinRoles are the ClusterRoles every resource may offer as access
// levels; the roles setting adds more.
var BuiltinRoles = []string{"cluster-admin", "admin", "edit", "view"}

// config is the decoded settings of one resource.
type config struct {
	resource       string
	kubeconfigFile string
	inCluster      bool
	context        string
	protected      []string
	roles          []string
	allow          []string
	userPrefix     string
	// list is false when the cluster is shared with another jit
	// installation, whose grants this one must not take for orphans.
	list   bool
	eks    *eksConfig
	client clientConfig
}

// EKS identity mapping modes.
const (
	modeAWSAuth       = "aws_auth"
	modeAccessEntries = "access_entries"
)

// eksConfig is the eks setting: how a requester's IAM principal is mapped
// to their Kubernetes user name on Amazon EKS.
type eksConfig struct {
	mode string
	// arnTemplate is iam_arn, with {email} and {local} placeholders.
	arnTemplate string
	// arns is iam_arns, keyed by lower-cased email.
	arns map[string]string
	// Access entries.
	cluster           string
	region            string
	endpoint          string
	credentials       string
	credentialProcess string
}

// Credential sources of the access entries API client.
const (
	credentialsAuto        = "auto"
	credentialsEnvironment = "environment"
	credentialsContainer   = "container"
)

// clientConfig is the client setting: what Kubeconfig writes.
type clientConfig struct {
	server string
	// caData is certificate_authority_data, decoded (PEM).
	caData []byte
	caFile string
	exec   *execConfig
}

// execConfig is client.user.exec: a client-go credential plugin.
type execConfig struct {
	command         string
	args            []string
	env             map[string]string
	apiVersion      string
	interactiveMode string
}

// Values accepted in client.user.exec.
var (
	execAPIVersions      = []string{"client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"}
	execInteractiveModes = []string{"Never", "IfAvailable", "Always"}
)

const defaultExecAPIVersion = "client.authentication.k8s.io/v1beta1"

// parseConfig decodes and validates r.Settings without contacting the
// cluster or reading any file or environment variable. Every problem is a
// *provider.SettingError.
func parseConfig(r provider.Resource) (config, error) {
	s := provider.NewSettings(r.Settings)
	c := config{resource: r.Name}
	var nested []error
	hasFile := s.Has("kubeconfig_file")
	c.kubeconfigFile = s.String("kubeconfig_file", hasFile)
	c.inCluster = s.Bool("in_cluster", false)
	switch {
	case hasFile && c.inCluster:
		s.Errorf("in_cluster", "give only one of kubeconfig_file and in_cluster: true")
	case !hasFile && !c.inCluster:
		s.Errorf("kubeconfig_file", "one of kubeconfig_file and in_cluster: true is required")
	}
	c.context = s.String("context", false)
	if c.context != "" && c.inCluster {
		s.Errorf("context", "applies to kubeconfig_file only")
	}
	if s.Has("protected_namespaces") {
		c.protected = s.StringList("protected_namespaces", false)
		for _, ns := range c.protected {
			if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
				s.Errorf("protected_namespaces", "%q is not a namespace name", ns)
			}
		}
	} else {
		c.protected = append([]string(nil), DefaultProtectedNamespaces...)
	}
	extra := s.StringList("roles", false)
	c.roles = append([]string(nil), BuiltinRoles...)
	for _, role := range extra {
		if err := checkRoleName(role); err != nil {
			s.Errorf("roles", "%v", err)
			continue
		}
		if !contains(c.roles, role) {
			c.roles = append(c.roles, role)
		}
	}
	c.allow = s.StringList("allow_escalation", false)
	for _, a := range c.allow {
		if strings.TrimSpace(a) == "" || a != strings.TrimSpace(a) {
			s.Errorf("allow_escalation", "%q is not a resource name", a)
		}
	}
	c.userPrefix = s.String("user_prefix", false)
	if strings.ContainsFunc(c.userPrefix, isControlOrSpace) {
		s.Errorf("user_prefix", "must not contain white space or control characters")
	}
	for _, a := range r.Access {
		if !contains(c.roles, a) {
			s.Errorf("roles", "access level %q of the resource is not a ClusterRole it may grant (%s); add it to roles", a, strings.Join(c.roles, ", "))
		}
	}
	c.list = s.Bool("list", true)
	if s.Has("eks") {
		e, errs := parseEKS(r.Settings["eks"])
		c.eks = e
		nested = append(nested, errs...)
	}
	if s.Has("client") {
		cc, errs := parseClient(r.Settings["client"])
		c.client = cc
		nested = append(nested, errs...)
	}
	return c, errors.Join(append([]error{s.Err()}, nested...)...)
}

// checkRoleName accepts ClusterRole names as the API server does (path
// segment names; RBAC allows ':' as in system:aggregate-to-view).
func checkRoleName(name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("role %v", err)
	}
	return nil
}

func settingErr(key, format string, args ...any) error {
	return &provider.SettingError{Key: key, Err: fmt.Errorf(format, args...)}
}

// parseEKS decodes the eks map:
//
//	eks:
//	  aws_auth: true                # or access_entries: {...}
//	  iam_arn: "arn:aws:iam::111122223333:role/{local}"
//	  iam_arns: {alice@example.com: "arn:aws:iam::111122223333:user/alice"}
func parseEKS(v any) (*eksConfig, []error) {
	m, ok := provider.AsMap(v)
	if !ok {
		return nil, []error{settingErr("eks", "must be a map with aws_auth or access_entries, and iam_arn or iam_arns")}
	}
	s := provider.NewSettings(m)
	e := &eksConfig{}
	var nested []error
	awsAuth := s.Bool("aws_auth", false)
	hasEntries := s.Has("access_entries")
	switch {
	case awsAuth && hasEntries:
		s.Errorf("access_entries", "give only one of aws_auth: true and access_entries")
	case awsAuth:
		e.mode = modeAWSAuth
	case hasEntries:
		e.mode = modeAccessEntries
		nested = append(nested, parseAccessEntries(e, m["access_entries"])...)
	default:
		s.Errorf("aws_auth", "one of aws_auth: true and access_entries is required")
	}
	e.arnTemplate = s.String("iam_arn", false)
	if e.arnTemplate != "" {
		if err := checkARNTemplate(e.arnTemplate); err != nil {
			s.Errorf("iam_arn", "%v", err)
		}
	}
	arns := s.StringMap("iam_arns")
	if len(arns) > 0 {
		e.arns = map[string]string{}
		for _, email := range sortedMapKeys(arns) {
			arn := arns[email]
			if err := checkEmail(email); err != nil {
				s.Errorf("iam_arns", "%v", err)
				continue
			}
			if _, err := ParseIAMARN(arn); err != nil {
				s.Errorf("iam_arns", "value for %q: %v", email, err)
				continue
			}
			key := strings.ToLower(email)
			if _, dup := e.arns[key]; dup {
				s.Errorf("iam_arns", "%q is given twice (emails are compared without case)", email)
				continue
			}
			e.arns[key] = arn
		}
	}
	if e.arnTemplate == "" && len(arns) == 0 {
		s.Errorf("iam_arn", "one of iam_arn and iam_arns is required: jit must know each requester's IAM principal")
	}
	return e, append(provider.Nested("eks", s.Err()), nested...)
}

// parseAccessEntries decodes eks.access_entries into e.
func parseAccessEntries(e *eksConfig, v any) []error {
	m, ok := provider.AsMap(v)
	if !ok {
		return []error{settingErr("eks.access_entries", "must be a map with cluster and region")}
	}
	s := provider.NewSettings(m)
	e.cluster = s.String("cluster", true)
	if e.cluster != "" && !eksClusterName.MatchString(e.cluster) {
		s.Errorf("cluster", "%q is not an EKS cluster name (letters, digits, - and _, starting with a letter or digit, at most 100)", e.cluster)
	}
	e.region = s.String("region", true)
	if e.region != "" && !awsRegion.MatchString(e.region) {
		s.Errorf("region", "%q is not an AWS region name such as eu-west-1", e.region)
	}
	e.endpoint = s.String("endpoint", false)
	if e.endpoint != "" {
		if u, err := url.Parse(e.endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			s.Errorf("endpoint", "must be an http(s) URL without user information")
		}
	}
	e.credentials = s.String("credentials", false)
	if e.credentials == "" {
		e.credentials = credentialsAuto
	}
	if !contains([]string{credentialsAuto, credentialsEnvironment, credentialsContainer}, e.credentials) {
		s.Errorf("credentials", "must be auto, environment or container, got %q", e.credentials)
	}
	e.credentialProcess = s.String("credential_process", false)
	if e.credentialProcess != "" && s.Has("credentials") {
		s.Errorf("credential_process", "give only one of credentials and credential_process")
	}
	return provider.Nested("eks.access_entries", s.Err())
}

var (
	// EKS cluster names: CreateCluster's pattern.
	eksClusterName = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$`)
	awsRegion      = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
)

// parseClient decodes the client map (what Kubeconfig writes).
func parseClient(v any) (clientConfig, []error) {
	m, ok := provider.AsMap(v)
	if !ok {
		return clientConfig{}, []error{settingErr("client", "must be a map with server, certificate_authority_data or certificate_authority_file, and user")}
	}
	s := provider.NewSettings(m)
	var c clientConfig
	var nested []error
	c.server = s.String("server", false)
	if c.server != "" {
		if u, err := url.Parse(c.server); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			s.Errorf("server", "must be an https URL of the API server without user information, query or fragment")
		}
	}
	hasData, hasFile := s.Has("certificate_authority_data"), s.Has("certificate_authority_file")
	if hasData && hasFile {
		s.Errorf("certificate_authority_file", "give only one of certificate_authority_data and certificate_authority_file")
	}
	if data := s.String("certificate_authority_data", hasData); data != "" {
		pemData, err := decodeCAData(data)
		if err != nil {
			s.Errorf("certificate_authority_data", "%v", err)
		}
		c.caData = pemData
	}
	c.caFile = s.String("certificate_authority_file", hasFile)
	if s.Has("user") {
		um, ok := provider.AsMap(m["user"])
		if !ok {
			s.Errorf("user", "must be a map with exec")
		} else {
			us := provider.NewSettings(um)
			if us.Has("exec") {
				ex, errs := parseExec(um["exec"])
				c.exec = ex
				nested = append(nested, provider.Nested("client.user", joinErrs(errs))...)
			}
			nested = append(nested, provider.Nested("client.user", us.Err())...)
		}
	}
	return c, append(provider.Nested("client", s.Err()), nested...)
}

func joinErrs(errs []error) error { return errors.Join(errs...) }

// parseExec decodes client.user.exec.
func parseExec(v any) (*execConfig, []error) {
	m, ok := provider.AsMap(v)
	if !ok {
		return nil, []error{settingErr("exec", "must be a map with command, args, env and api_version")}
	}
	s := provider.NewSettings(m)
	e := &execConfig{}
	e.command = s.String("command", true)
	if strings.ContainsFunc(e.command, isControl) {
		s.Errorf("command", "must not contain control characters")
	}
	e.args = s.StringList("args", false)
	for i, a := range e.args {
		if strings.ContainsFunc(a, isControl) {
			s.Errorf("args", "element %d contains control characters", i)
		}
	}
	e.env = s.StringMap("env")
	for _, k := range sortedMapKeys(e.env) {
		if !envName.MatchString(k) {
			s.Errorf("env", "%q is not an environment variable name", k)
		}
		if strings.ContainsFunc(e.env[k], isControl) {
			s.Errorf("env", "value of %s contains control characters", k)
		}
	}
	e.apiVersion = s.String("api_version", false)
	if e.apiVersion == "" {
		e.apiVersion = defaultExecAPIVersion
	}
	if !contains(execAPIVersions, e.apiVersion) {
		s.Errorf("api_version", "must be one of %s, got %q", strings.Join(execAPIVersions, ", "), e.apiVersion)
	}
	e.interactiveMode = s.String("interactive_mode", false)
	if e.interactiveMode == "" {
		e.interactiveMode = "IfAvailable"
	}
	if !contains(execInteractiveModes, e.interactiveMode) {
		s.Errorf("interactive_mode", "must be one of %s, got %q", strings.Join(execInteractiveModes, ", "), e.interactiveMode)
	}
	return e, provider.Nested("exec", s.Err())
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// decodeCAData decodes certificate_authority_data as a kubeconfig holds
// it (base64 of PEM) and checks that it is at least one certificate.
// Errors never echo the value.
func decodeCAData(s string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("must be base64 of PEM certificates, as in a kubeconfig; it is not valid base64")
	}
	if err := checkCAPEM(raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// checkCAPEM reports whether b holds at least one PEM certificate and
// nothing else that is PEM.
func checkCAPEM(b []byte) error {
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return fmt.Errorf("holds a PEM block of type %q; only certificates belong there", blk.Type)
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return fmt.Errorf("certificate %d does not parse: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return errors.New("holds no PEM certificate")
	}
	return nil
}

func sortedMapKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func isControlOrSpace(r rune) bool { return isControl(r) || r == ' ' }
