package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/credential"
)

// identityFileName is the file of the private key that opens credentials,
// next to config.json. It is an age identity file: `age -d -i` reads it.
const identityFileName = "identity.txt"

// identityPath returns where the private key lives.
func identityPath(getenv func(string) string) (string, error) {
	p, err := configPath(getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(p), identityFileName), nil
}

// loadIdentity reads the local private key, saying what to do when there
// is none.
func (a *app) loadIdentity() (*age.X25519Identity, string, error) {
	p, err := identityPath(a.opts.Getenv)
	if err != nil {
		return nil, "", err
	}
	id, err := credential.LoadIdentity(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, p, fmt.Errorf("no key for receiving credentials on this machine (%s): run 'jit login' to make one", p)
	}
	if err != nil {
		return nil, p, err
	}
	return id, p, nil
}

// noKeyEndpoint reports whether err says the server has no public-key
// endpoint at all (a server from before credentials were delivered): the
// endpoint itself never answers 404 or 405.
func noKeyEndpoint(err error) bool {
	var e *client.Error
	return errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusMethodNotAllowed)
}

// loginKey is the key step of `jit login`: it makes sure this machine has
// a key pair (creating it on first login) and registers its public key
// with the server, which is idempotent there. A server without the
// endpoint only earns a warning, so that login keeps working with it.
func (a *app) loginKey(ctx context.Context, c *client.Client) error {
	// In JSON mode stdout carries only the identity document.
	out := a.opts.Stdout
	if a.output == "json" {
		out = a.opts.Stderr
	}
	path, err := identityPath(a.opts.Getenv)
	if err != nil {
		return err
	}
	id, err := credential.LoadIdentity(path)
	created := false
	if errors.Is(err, fs.ErrNotExist) {
		if id, err = credential.GenerateIdentity(); err != nil {
			return fmt.Errorf("logged in, but making a key failed: %w", err)
		}
		if err = credential.SaveIdentity(path, id); errors.Is(err, fs.ErrExist) {
			// Another login on this machine made one meanwhile: use it.
			id, err = credential.LoadIdentity(path)
		} else if err == nil {
			created = true
		}
	}
	if err != nil {
		return fmt.Errorf("logged in, but the key for receiving credentials is unusable: %w", err)
	}
	key := id.Recipient().String()
	if created {
		fmt.Fprintf(out, "Created a key for receiving database credentials in %s (keep it private).\nPublic key: %s\n", path, key)
	}
	if _, err := c.RegisterPublicKey(ctx, key); err != nil {
		if noKeyEndpoint(err) {
			fmt.Fprintf(a.opts.Stderr, "jit: warning: %s does not accept public keys, so it cannot deliver database credentials to you\n", c.Server())
			return nil
		}
		return fmt.Errorf("logged in, but registering your public key failed: %w", err)
	}
	return nil
}

func (a *app) keyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Show or replace your key for receiving database credentials",
		Long: `Database credentials are encrypted to your public key, so that only the
private key on your machine can read them. 'jit login' makes the key pair
(age X25519, in the user config directory next to config.json, readable
only by you) and registers the public key with the server.`,
		Args: noArgs,
		RunE: groupHelp,
	}
	cmd.AddCommand(a.keyShowCommand(), a.keyRotateCommand())
	return cmd
}

func (a *app) keyShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Print your public key and whether the server has it",
		Args:  noArgs,
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			id, path, err := a.loadIdentity()
			if err != nil {
				return err
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			local := id.Recipient().String()
			remote, err := c.PublicKey(cmd.Context())
			registered := true
			if client.IsCode(err, jit.ECodeNotFound) {
				registered, err = false, nil
			}
			if err != nil {
				return a.apiError(cmd, err)
			}
			matches := registered && remote.Key == local
			if a.output == "json" {
				v := map[string]any{"public_key": local, "file": path, "registered": registered, "matches": matches}
				if registered {
					v["server_public_key"] = remote.Key
				}
				return writeJSON(a.opts.Stdout, v)
			}
			t := newList(a.opts.Stdout)
			t.row("Public key:", local)
			t.row("File:", path)
			switch {
			case matches:
				t.row("Server:", fmt.Sprintf("has this key (registered %s)", relative(remote.CreatedAt, a.now())))
			case registered:
				t.row("Server:", "has a different key, "+remote.Key+": credentials go to that key; run 'jit login' here to use this one")
			default:
				t.row("Server:", "has no key for you: run 'jit login' to register this one")
			}
			return t.flush()
		}),
	}
}

func (a *app) keyRotateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Make a new key pair and register it (credentials issued before can no longer be read)",
		Args:  noArgs,
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			path, err := identityPath(a.opts.Getenv)
			if err != nil {
				return err
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			// The old key may be missing, loose or damaged: rotating is the
			// way out of each, so none of that stops it.
			old, _ := credential.LoadIdentity(path)
			next, err := credential.GenerateIdentity()
			if err != nil {
				return err
			}
			// Register first: if the server refuses, nothing has changed.
			if _, err := c.RegisterPublicKey(cmd.Context(), next.Recipient().String()); err != nil {
				return a.apiError(cmd, fmt.Errorf("registering the new public key: %w", err))
			}
			if err := credential.ReplaceIdentity(path, next); err != nil {
				// The server now has a key this machine does not: put the old
				// one back if there is one.
				if old != nil {
					if _, rerr := c.RegisterPublicKey(cmd.Context(), old.Recipient().String()); rerr != nil {
						return fmt.Errorf("%w; and registering the old key again failed (%v): run 'jit key rotate' again", err, rerr)
					}
				}
				return fmt.Errorf("saving the new key: %w (the old key stays in use)", err)
			}
			key := next.Recipient().String()
			if a.output == "json" {
				v := map[string]any{"public_key": key, "file": path}
				if old != nil {
					v["previous_public_key"] = old.Recipient().String()
				}
				return writeJSON(a.opts.Stdout, v)
			}
			_, err = fmt.Fprintf(a.opts.Stdout, "New public key: %s (in %s)\n"+
				"Credentials issued before now were encrypted to the old key and can no longer be read;\n"+
				"ask for new access if you still need one.\n", key, path)
			return err
		}),
	}
}
