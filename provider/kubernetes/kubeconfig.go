package kubernetes

import (
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kubeconfig returns a kubeconfig (YAML) with which user (the requester's
// email) reaches the cluster under their own identity: one cluster and one
// context, both named after the resource (no namespace set), and one user
// entry named user. The cluster's server and certificate authority come
// from the client setting, or else from the connection jit itself uses.
// The user entry authenticates with the client.user.exec credential
// plugin (aws eks get-token, kubelogin, ...) when one is set, and holds
// nothing otherwise: the person adds their own credentials. jit's own
// credentials are never included.
//
// It has no side effects and may be called for any user; the file is no
// secret and grants nothing by itself. Errors: an invalid user name, a
// certificate authority file that cannot be read or holds no certificate,
// or no server known (the provider was given a client but no connection
// and the client setting names no server).
func (p *Provider) Kubeconfig(user string) ([]byte, error) {
	if user == "" || strings.ContainsFunc(user, isControl) || len(user) > 320 {
		return nil, errors.New("kubernetes kubeconfig: the user name is empty, too long or contains control characters")
	}
	server, ca, serverName, err := p.clientCluster()
	if err != nil {
		return nil, fmt.Errorf("kubernetes kubeconfig for %s: %w", p.cfg.resource, err)
	}
	name := p.cfg.resource
	cfg := clientcmdapi.NewConfig()
	cl := clientcmdapi.NewCluster()
	cl.Server = server
	cl.CertificateAuthorityData = ca
	cl.TLSServerName = serverName
	cfg.Clusters[name] = cl
	ai := clientcmdapi.NewAuthInfo()
	if ex := p.cfg.client.exec; ex != nil {
		ec := &clientcmdapi.ExecConfig{
			Command:         ex.command,
			Args:            append([]string(nil), ex.args...),
			APIVersion:      ex.apiVersion,
			InteractiveMode: clientcmdapi.ExecInteractiveMode(ex.interactiveMode),
		}
		for _, k := range sortedMapKeys(ex.env) {
			ec.Env = append(ec.Env, clientcmdapi.ExecEnvVar{Name: k, Value: ex.env[k]})
		}
		ai.Exec = ec
	}
	cfg.AuthInfos[user] = ai
	kc := clientcmdapi.NewContext()
	kc.Cluster = name
	kc.AuthInfo = user
	cfg.Contexts[name] = kc
	cfg.CurrentContext = name
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes kubeconfig for %s: %w", p.cfg.resource, err)
	}
	return out, nil
}

// clientCluster returns the server URL, certificate authority (PEM) and
// TLS server name people connect with.
func (p *Provider) clientCluster() (server string, ca []byte, serverName string, err error) {
	cc := p.cfg.client
	server, ca = cc.server, cc.caData
	if cc.caFile != "" {
		b, err := os.ReadFile(cc.caFile)
		if err != nil {
			return "", nil, "", fmt.Errorf("client.certificate_authority_file: %w", err)
		}
		if err := checkCAPEM(b); err != nil {
			return "", nil, "", fmt.Errorf("client.certificate_authority_file %s: %w", cc.caFile, err)
		}
		ca = b
	}
	if server != "" && (ca != nil || cc.caFile != "") {
		return server, ca, "", nil
	}
	// Default to the connection jit uses; only its address and trust,
	// never its credentials.
	p.mu.Lock()
	rc := p.restConfig
	if rc == nil && p.client == nil {
		rc, err = p.restConfigLocked()
	}
	p.mu.Unlock()
	if err != nil {
		return "", nil, "", err
	}
	if rc == nil {
		if server == "" {
			return "", nil, "", errors.New("no server: set client.server")
		}
		return server, ca, "", nil
	}
	if server == "" {
		server = rc.Host
		if !strings.Contains(server, "://") {
			server = "https://" + server
		}
		// Never echo the address: it may hold the credentials refused here.
		if u, err := url.Parse(server); err != nil || u.Host == "" {
			return "", nil, "", errors.New("the connection's server address is not a URL; set client.server")
		} else if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return "", nil, "", errors.New("the connection's server address holds user information, a query or a fragment, which are not copied into a kubeconfig; set client.server")
		}
		serverName = rc.TLSClientConfig.ServerName
	}
	if ca == nil {
		switch {
		case len(rc.TLSClientConfig.CAData) > 0:
			ca = certificatesOnly(rc.TLSClientConfig.CAData)
		case rc.TLSClientConfig.CAFile != "":
			b, err := os.ReadFile(rc.TLSClientConfig.CAFile)
			if err != nil {
				return "", nil, "", fmt.Errorf("reading the connection's certificate authority: %w", err)
			}
			ca = certificatesOnly(b)
		}
	}
	return server, ca, serverName, nil
}

// certificatesOnly returns the CERTIFICATE blocks of b, re-encoded. jit's
// connection may name as its certificate authority a PEM bundle that also
// holds a private key (client-go reads only the certificates of it); only
// the certificates may go into a kubeconfig handed to people. nil means
// there were none.
func certificatesOnly(b []byte) []byte {
	var out []byte
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return out
		}
		if blk.Type == "CERTIFICATE" {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: blk.Type, Bytes: blk.Bytes})...)
		}
	}
}
