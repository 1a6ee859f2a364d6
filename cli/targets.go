package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) targetsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "targets RESOURCE [PARENT]",
		Short: "List the targets a request for a resource may name",
		Long: `List the targets a request for RESOURCE may name with --target: for a Kubernetes
cluster its namespaces, or with PARENT (KIND/NAMESPACE, or KIND for cluster-scoped kinds) the
objects of that kind; for Google Cloud the roles you are eligible for.`,
		Example: `  jit targets prod-k8s
  jit targets prod-k8s deployments/default`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageErrorf("%s takes RESOURCE and an optional PARENT", name(cmd))
			}
			return nil
		},
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			parent := ""
			if len(args) == 2 {
				parent = args[1]
			}
			ts, err := c.Targets(cmd.Context(), args[0], parent)
			if err != nil {
				return a.apiError(cmd, err)
			}
			if a.output == "json" {
				if ts.Items == nil {
					ts.Items = []string{}
				}
				return writeJSON(a.opts.Stdout, ts)
			}
			if len(ts.Items) == 0 {
				_, err := fmt.Fprintln(a.opts.Stdout, "No targets.")
				return err
			}
			for _, t := range ts.Items {
				if _, err := fmt.Fprintln(a.opts.Stdout, t); err != nil {
					return err
				}
			}
			if ts.Truncated {
				_, err = fmt.Fprintln(a.opts.Stderr, "(more exist: name a PARENT to narrow the list)")
			}
			return err
		}),
	}
}

func (a *app) kubeconfigCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "kubeconfig RESOURCE",
		Short: "Print a kubeconfig for a Kubernetes resource",
		Long: `Print (or write with --file) a kubeconfig for the Kubernetes cluster RESOURCE: its server
and CA, a context named after it, and your own sign-in method as the cluster's jit settings
describe it. It holds no credential: kubectl works with it once a request is active.`,
		Example: `  jit kubeconfig prod-k8s > ~/.kube/jit-prod
  jit kubeconfig prod-k8s --file ~/.kube/jit-prod && kubectl --kubeconfig ~/.kube/jit-prod get pods`,
		Args: oneArg("RESOURCE"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			b, err := c.Kubeconfig(cmd.Context(), args[0])
			if err != nil {
				return a.apiError(cmd, err)
			}
			if file == "" {
				_, err := a.opts.Stdout.Write(b)
				return err
			}
			if err := writePrivate(file, b); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.opts.Stderr, "Wrote %s; use it with: kubectl --kubeconfig %s\n", file, file)
			return err
		}),
	}
	cmd.Flags().StringVar(&file, "file", "", "write the kubeconfig to this file (mode 0600) instead of printing it")
	return cmd
}
