package daemon

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jitaccess/jit/policy"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestDocPolicies keeps the integration guides honest: every complete
// policy example in them (a YAML block with resources and rules) loads
// with every provider jitd registers, and every resources-only block
// loads with a rule added.
func TestDocPolicies(t *testing.T) {
	docs := []string{"README.md", "docs/kubernetes.md", "docs/ssh.md", "docs/gcp.md", "docs/aws.md", "docs/azure.md"}
	checked := 0
	for _, doc := range docs {
		b, err := os.ReadFile(filepath.Join("..", "..", doc))
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range yamlBlock.FindAllStringSubmatch(string(b), -1) {
			src := m[1]
			if !strings.Contains(src, "resources:") || !strings.Contains(src, "provider:") ||
				strings.Contains(src, "server:") || strings.Contains(src, "...") {
				continue
			}
			if !strings.Contains(src, "rules:") {
				src += "rules: []\n"
			}
			if !strings.Contains(src, "identities:") {
				src = "identities: [{email: alice@example.com, groups: [developers, engineering]}]\n" + src
			}
			p, err := policy.Parse(doc, []byte(src))
			if err != nil {
				t.Errorf("%s, YAML block %d does not load: %v\n%s", doc, i+1, err, m[1])
				continue
			}
			p.Close()
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no policy examples found")
	}
	t.Logf("%d policy examples load", checked)
}
