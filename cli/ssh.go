package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/client"
)

// sshKeyFileName is jit's own SSH key, next to config.json, made at first
// use of `jit ssh` when no --ssh-key is given.
const sshKeyFileName = "ssh_ed25519"

// certificateKind is the credential kind of SSH certificates.
const certificateKind = "ssh-certificate"

func (a *app) sshCommand() *cobra.Command {
	var (
		resource, access, dur, reason, keyFile, bin string
		timeout                                     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "ssh [USER@]HOST [--access LEVEL] [--for D] [--reason TEXT] [-- SSH ARGS...]",
		Short: "Log in to a host with a just-in-time SSH certificate",
		Long: `ssh logs in to HOST with a short-lived SSH certificate.

It finds the SSH resource covering HOST (or takes --resource), and the access
level whose principals include USER (or takes --access; without USER it logs
in as the level's first principal). It uses your active access with the same
key when you have some; otherwise it files a request for your SSH public key,
waits until it is granted (printing each step on stderr), writes the
certificate into a private temporary directory and runs ssh with it
(-o CertificateFile=...). The certificate stops working at the access's
expiry on its own; a revoke takes effect on hosts at their next revocation
list refresh.

The key is --ssh-key (a private key whose public key is KEY.pub), else a key
jit keeps for you next to its config (made on first use). ssh is looked up
on PATH; --bin or $JIT_SSH names another binary. Arguments after -- go to
ssh unchanged.`,
		Example: `  jit ssh deploy@web-3 --for 1h --reason INC-42
  jit ssh root@db-1 --access admin --for 15m --reason INC-42 -- -p 2222 uptime`,
		Args: func(cmd *cobra.Command, args []string) error {
			n := len(args)
			if d := cmd.ArgsLenAtDash(); d >= 0 {
				n = d
			}
			if n != 1 {
				return usageErrorf("%s needs exactly one [USER@]HOST before -- (usage: %s)", name(cmd), cmd.UseLine())
			}
			return nil
		},
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			user, host, ok := splitUserHost(args[0])
			if !ok {
				return usageErrorf("%q is not [USER@]HOST", args[0])
			}
			if timeout <= 0 {
				return usageErrorf("--timeout must be positive")
			}
			path, err := a.sshBinary(bin)
			if err != nil {
				return err
			}
			ident, _, err := a.loadIdentity()
			if err != nil {
				return err
			}
			keyPath, pub, err := a.sshKey(keyFile)
			if err != nil {
				return err
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			offer, err := a.sshResource(cmd.Context(), c, host, resource)
			if err != nil {
				return a.apiError(cmd, err)
			}
			level, login, err := pickSSHAccess(offer, access, user)
			if err != nil {
				return err
			}
			r, err := a.activeSSHGrant(cmd.Context(), c, offer.Resource, level, pub)
			if err != nil {
				return a.apiError(cmd, err)
			}
			if r != nil {
				fmt.Fprintf(a.opts.Stderr, "jit: using your active access %s (%s)\n", r.ID, describe(r, a.now()))
			} else {
				if err := a.checkServerKey(cmd, c, ident); err != nil {
					return err
				}
				sub, err := c.Submit(cmd.Context(), client.SubmitRequest{Resource: offer.Resource, Access: level, Duration: dur, Reason: reason, SSHPublicKey: pub})
				if err != nil {
					return a.apiError(cmd, err)
				}
				if r, err = a.await(cmd, c, sub, timeout, a.opts.Stderr); err != nil {
					return err
				}
			}
			p, err := a.openCredential(cmd, c, ident, r.ID)
			if err != nil {
				return err
			}
			if p.Kind != certificateKind {
				return fmt.Errorf("the credential of %s is a %s, not an SSH certificate", r.ID, p.Kind)
			}
			dir, err := os.MkdirTemp("", "jit-ssh-")
			if err != nil {
				return fmt.Errorf("make a private directory for the certificate: %w", err)
			}
			defer os.RemoveAll(dir)
			certPath := filepath.Join(dir, "id-cert.pub")
			if err := os.WriteFile(certPath, []byte(strings.TrimSpace(p.Secret)+"\n"), 0o600); err != nil {
				return fmt.Errorf("write the certificate: %w", err)
			}
			keyOpt, err := sshPathOption("IdentityFile", keyPath)
			if err != nil {
				return err
			}
			certOpt, err := sshPathOption("CertificateFile", certPath)
			if err != nil {
				return err
			}
			// ssh reads options after the destination too, and the rest as
			// the remote command.
			sshArgs := append([]string{"-o", keyOpt, "-o", certOpt, "-o", "IdentitiesOnly=yes",
				"-l", login, host}, args[1:]...)
			return a.runSSH(path, sshArgs)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&resource, "resource", "", "the SSH resource (default: the one covering HOST)")
	f.StringVar(&access, "access", "", "access level (default: the one whose principals include USER, else the resource's default)")
	f.StringVar(&dur, "for", "1h", "how long new access should last (Go notation: 30m, 1h)")
	f.StringVar(&reason, "reason", "", "justification for new access, such as a ticket or incident ID")
	f.StringVar(&keyFile, "ssh-key", "", "private key to certify; its public key is KEY.pub (default: jit's own key)")
	f.DurationVar(&timeout, "timeout", 30*time.Minute, "how long to wait for new access at most")
	f.StringVar(&bin, "bin", "", "path of the ssh binary (default: $JIT_SSH, else ssh on PATH)")
	return cmd
}

func (a *app) sshCertCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "ssh-cert ID",
		Short: "Print the SSH certificate of a request",
		Long: `ssh-cert prints (or writes with --file) the SSH certificate issued for request ID,
opened with this machine's key. Use it with ssh -o CertificateFile=FILE -i KEY.`,
		Args: oneArg("ID"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			p, err := a.credential(cmd, args[0])
			if err != nil {
				return err
			}
			if p.Kind != certificateKind {
				return fmt.Errorf("the credential of %s is a %s, not an SSH certificate", args[0], p.Kind)
			}
			cert := []byte(strings.TrimSpace(p.Secret) + "\n")
			if file == "" {
				_, err := a.opts.Stdout.Write(cert)
				return err
			}
			return writePrivate(file, cert)
		}),
	}
	cmd.Flags().StringVar(&file, "file", "", "write the certificate to this file instead of printing it")
	return cmd
}

// sshPathOption is "-o NAME=PATH" for ssh: quoted, since ssh splits
// option values at spaces, and with % doubled, since ssh expands %
// tokens in file names (a temporary directory may contain either).
func sshPathOption(name, path string) (string, error) {
	if strings.ContainsAny(path, "\"\n") {
		return "", fmt.Errorf("cannot pass the path %q to ssh: it contains a double quote or a newline", path)
	}
	return name + "=\"" + strings.ReplaceAll(path, "%", "%%") + "\"", nil
}

// splitUserHost splits [USER@]HOST.
func splitUserHost(s string) (user, host string, ok bool) {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		user, host = s[:i], s[i+1:]
		if user == "" {
			return "", "", false
		}
	} else {
		host = s
	}
	if host == "" || strings.ContainsAny(host, " \t/@") || strings.HasPrefix(host, "-") || strings.HasPrefix(user, "-") {
		return "", "", false
	}
	return user, host, true
}

// sshBinary finds ssh: --bin, else $JIT_SSH, else ssh on PATH.
func (a *app) sshBinary(flag string) (string, error) {
	p := flag
	if p == "" {
		p = a.opts.Getenv("JIT_SSH")
	}
	if p == "" {
		p = "ssh"
	}
	found, err := exec.LookPath(p)
	if err != nil {
		return "", fmt.Errorf("cannot run ssh: %w (install OpenSSH's client, or name it with --bin or $JIT_SSH)", err)
	}
	return found, nil
}

// sshKey returns the private key file to use and its public key in
// authorized_keys form: --ssh-key (with KEY.pub beside it), else jit's own
// key, made on first use.
func (a *app) sshKey(flag string) (string, string, error) {
	if flag != "" {
		priv := strings.TrimSuffix(flag, ".pub")
		b, err := os.ReadFile(priv + ".pub")
		if err != nil {
			return "", "", fmt.Errorf("read the public key of --ssh-key: %w", err)
		}
		pk, _, _, _, err := ssh.ParseAuthorizedKey(b)
		if err != nil {
			return "", "", fmt.Errorf("%s.pub is not an SSH public key: %w", priv, err)
		}
		if _, err := os.Stat(priv); err != nil {
			return "", "", fmt.Errorf("the private key of --ssh-key: %w", err)
		}
		return priv, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))), nil
	}
	cfg, err := configPath(a.opts.Getenv)
	if err != nil {
		return "", "", err
	}
	priv := filepath.Join(filepath.Dir(cfg), sshKeyFileName)
	b, err := os.ReadFile(priv + ".pub")
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Lstat(priv); err == nil {
			// Never replace a private key: its certificates would stop
			// matching it.
			return "", "", fmt.Errorf("%s exists but %s.pub does not: restore it with 'ssh-keygen -y -f %s > %s.pub'", priv, priv, priv, priv)
		}
		if err := a.makeSSHKey(priv); err != nil {
			return "", "", err
		}
		b, err = os.ReadFile(priv + ".pub")
	}
	if err != nil {
		return "", "", fmt.Errorf("read jit's SSH key: %w", err)
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return "", "", fmt.Errorf("%s.pub is not an SSH public key: %w", priv, err)
	}
	return priv, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))), nil
}

// makeSSHKey makes an ed25519 key pair at priv (0600) and priv.pub.
func (a *app) makeSSHKey(priv string) error {
	pubKey, privKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("make an SSH key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(privKey, "jit")
	if err != nil {
		return fmt.Errorf("make an SSH key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(priv), 0o700); err != nil {
		return fmt.Errorf("make an SSH key: %w", err)
	}
	if err := writePrivate(priv, pem.EncodeToMemory(block)); err != nil {
		return err
	}
	spk, err := ssh.NewPublicKey(pubKey)
	if err != nil {
		return fmt.Errorf("make an SSH key: %w", err)
	}
	if err := os.WriteFile(priv+".pub", ssh.MarshalAuthorizedKey(spk), 0o644); err != nil {
		return fmt.Errorf("make an SSH key: %w", err)
	}
	fmt.Fprintf(a.opts.Stderr, "jit: made an SSH key for your certificates: %s\n", priv)
	return nil
}

// sshResource finds the SSH resource for host: the named one, else the
// only one covering it.
func (a *app) sshResource(ctx context.Context, c *client.Client, host, named string) (client.HostOffer, error) {
	offers, err := c.SSHHosts(ctx, host)
	if err != nil {
		return client.HostOffer{}, err
	}
	if named != "" {
		for _, o := range offers {
			if o.Resource == named {
				return o, nil
			}
		}
		return client.HostOffer{}, fmt.Errorf("%s is not an SSH resource you may request covering %s", named, host)
	}
	switch len(offers) {
	case 0:
		return client.HostOffer{}, fmt.Errorf("no SSH resource you may request covers %s ('jit resources' lists what you may request)", host)
	case 1:
		return offers[0], nil
	}
	names := make([]string, len(offers))
	for i, o := range offers {
		names[i] = o.Resource
	}
	return client.HostOffer{}, fmt.Errorf("several SSH resources cover %s (%s): choose one with --resource", host, strings.Join(names, ", "))
}

// pickSSHAccess chooses the access level and login name: --access, else
// the level whose principals include user, else the resource's default
// (or only) level. The login is user, else the level's first principal:
// hosts whose AuthorizedPrincipalsFile maps principals to accounts let a
// principal log in under another name, so user need not be a principal.
func pickSSHAccess(o client.HostOffer, access, user string) (level, login string, err error) {
	var chosen *client.HostAccess
	find := func(name string) *client.HostAccess {
		for i := range o.Access {
			if o.Access[i].Name == name {
				return &o.Access[i]
			}
		}
		return nil
	}
	switch {
	case access != "":
		if chosen = find(access); chosen == nil {
			return "", "", fmt.Errorf("%s has no access level %s", o.Resource, access)
		}
	default:
		if user != "" {
			for i := range o.Access {
				if slices.Contains(o.Access[i].Principals, user) {
					chosen = &o.Access[i]
					break
				}
			}
		}
		if chosen == nil {
			chosen = find(o.DefaultAccess)
		}
		if chosen == nil && len(o.Access) == 1 {
			chosen = &o.Access[0]
		}
		if chosen == nil {
			return "", "", fmt.Errorf("%s has several access levels and none logs in as %q: choose one with --access", o.Resource, user)
		}
	}
	if user == "" {
		if len(chosen.Principals) == 0 {
			return "", "", fmt.Errorf("access %s of %s carries no login name: give one as USER@HOST", chosen.Name, o.Resource)
		}
		user = chosen.Principals[0]
	}
	return chosen.Name, user, nil
}

// activeSSHGrant returns the caller's newest active, unexpired request
// for resource at level that certifies pub, or nil.
func (a *app) activeSSHGrant(ctx context.Context, c *client.Client, resource, level, pub string) (*jit.Request, error) {
	o := client.ListOptions{Scope: client.ScopeMine, Statuses: []jit.Status{jit.StatusActive}, Resource: resource}
	now := a.now()
	for {
		p, err := c.List(ctx, o)
		if err != nil {
			return nil, err
		}
		for _, r := range p.Items {
			if r.Status == jit.StatusActive && r.Resource == resource && r.Access == level &&
				(r.ExpiresAt == nil || r.ExpiresAt.After(now)) && sameSSHKey(r.SSHPublicKey, pub) {
				return r, nil
			}
		}
		if p.Next == "" || p.Next == o.After {
			return nil, nil
		}
		o.After = p.Next
	}
}

// sameSSHKey compares two authorized_keys lines by type and key material.
func sameSSHKey(a, b string) bool {
	fa, fb := strings.Fields(a), strings.Fields(b)
	return len(fa) >= 2 && len(fb) >= 2 && fa[0] == fb[0] && fa[1] == fb[1]
}

// runSSH runs ssh as a child wired to this process's streams (not exec,
// so that the certificate's directory is removed afterwards) and exits
// with its status.
func (a *app) runSSH(path string, args []string) error {
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.opts.Stdin, a.opts.Stdout, a.opts.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		code := ee.ExitCode()
		if code < 0 {
			return &exitStatus{code: 128 + signalNumber(ee), err: fmt.Errorf("ssh was killed (%s)", ee)}
		}
		return &exitStatus{code: code, err: fmt.Errorf("ssh exited with status %d", code)}
	}
	return fmt.Errorf("running %s: %w", path, err)
}
