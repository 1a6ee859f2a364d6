package migrations

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	ms, err := Load(fstest.MapFS{
		"m/0002_b.sql": {Data: []byte("B")},
		"m/0001_a.sql": {Data: []byte("A")},
		"m/readme.txt": {Data: []byte("not a migration")},
	}, "m")
	if err != nil || len(ms) != 2 || ms[0].Version != 1 || ms[1].SQL != "B" || ms[0].Name != "0001_a.sql" {
		t.Fatalf("Load = %+v, %v", ms, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no version":     {"m/init.sql": {}},
		"zero version":   {"m/0000_x.sql": {}},
		"shared version": {"m/0001_a.sql": {}, "m/1_b.sql": {}},
		"empty":          {},
	} {
		if _, err := Load(fsys, "m"); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), "migration") {
			t.Errorf("%s: unclear error %v", name, err)
		}
	}
}
