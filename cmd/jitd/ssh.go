package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/sshca"
	"github.com/jitaccess/jit/workflow"
)

func sshCmd() *cobra.Command {
	c := &cobra.Command{Use: "ssh", Short: "Manage SSH certificate authorities and revocation lists"}

	var file, keyType string
	initCA := &cobra.Command{
		Use:   "init-ca",
		Short: "Create an SSH CA key (mode 0600) if it does not exist, and print its public key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("--file PATH is required")
			}
			created, pub, err := sshca.InitCA(file, keyType)
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintf(cmd.ErrOrStderr(), "created %s; put its public key (below) in each host's TrustedUserCAKeys\n", file)
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s exists; it was left as it is\n", file)
			}
			fmt.Fprintln(cmd.OutOrStdout(), sshca.AuthorizedKey(pub))
			return nil
		},
	}
	initCA.Flags().StringVar(&file, "file", "", "where the CA private key lives (its directory must exist)")
	initCA.Flags().StringVar(&keyType, "type", sshca.CAKeyEd25519, fmt.Sprintf("key type: %v", sshca.CAKeyTypes))

	var caConfig, caResource string
	ca := &cobra.Command{
		Use:   "ca",
		Short: "Print the public key of an SSH resource's CA (for sshd's TrustedUserCAKeys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, prov, err := sshResource(caConfig, caResource)
			if err != nil {
				return err
			}
			defer p.Close()
			k, err := prov.AuthorityKey()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), k)
			return nil
		},
	}
	ca.Flags().StringVar(&caConfig, "config", "jit.yaml", "config file that defines the resource")
	ca.Flags().StringVar(&caResource, "resource", "", "the SSH resource")

	var kf storeFlags
	var krlResource string
	krl := &cobra.Command{
		Use:   "krl",
		Short: "Write an SSH resource's key revocation list (for sshd's RevokedKeys) to standard output",
		Long: `krl writes the current OpenSSH key revocation list of an SSH resource, computed from the
store exactly as jitd serves it at /api/v1/ssh/RESOURCE/krl, to standard output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := kf.config
			if cfg == "" {
				if kf.data == "" {
					return errors.New("--config FILE (or --data DIR of a dev server) is required")
				}
				cfg = filepath.Join(kf.data, "jit.yaml")
			}
			p, _, err := sshResource(cfg, krlResource)
			if err != nil {
				return err
			}
			defer p.Close()
			st, err := kf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			svc, err := workflow.New(workflow.Config{Store: st, Policy: policy.NewHolder(p), Logger: log})
			if err != nil {
				return err
			}
			b, err := svc.RevocationList(cmd.Context(), krlResource)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	kf.add(krl)
	krl.Flags().StringVar(&krlResource, "resource", "", "the SSH resource")

	c.AddCommand(initCA, ca, krl)
	return c
}

// sshResource loads the config and finds the SSH resource in it.
func sshResource(config, resource string) (*policy.Policy, provider.CertificateAuthority, error) {
	if resource == "" {
		return nil, nil, errors.New("--resource NAME is required")
	}
	if _, err := os.Stat(config); err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	p, err := policy.Load(config)
	if err != nil {
		return nil, nil, err
	}
	prov, ok := p.Provider(resource)
	if !ok {
		p.Close()
		return nil, nil, fmt.Errorf("%s defines no resource %s", config, resource)
	}
	ca, ok := provider.As[provider.CertificateAuthority](prov)
	if !ok {
		p.Close()
		info, _ := p.Resource(resource)
		return nil, nil, fmt.Errorf("resource %s is not an SSH resource (its provider is %s, not %s)", resource, info.Provider, sshca.Type)
	}
	return p, ca, nil
}
