package importgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The whole module keeps goimports' grouping.
func TestModuleImports(t *testing.T) {
	problems, err := Check(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("import grouping (fix with goimports -local %s -w FILE):\n%s", Module, strings.Join(problems, "\n"))
	}
}

func TestCheckFindsBadGroups(t *testing.T) {
	for _, tc := range []struct {
		src, want string
	}{
		{"package x\n\nimport (\n\t\"fmt\"\n\t\"github.com/r1go/r1/model\"\n\t\"os\"\n)\n", "grouped with standard library"},
		{"package x\n\nimport (\n\t\"github.com/r1go/r1/model\"\n\n\t\"fmt\"\n)\n", "must come before"},
		{"package x\n\nimport (\n\t\"os\"\n\t\"fmt\"\n)\n", "not sorted"},
		{"package x\n\nimport (\n\t\"fmt\"\n\n\t\"go.yaml.in/yaml/v3\"\n\n\t\"github.com/r1go/r1/model\"\n)\n", ""},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(tc.src), 0o644); err != nil {
			t.Fatal(err)
		}
		problems, err := Check(dir)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(problems, "\n")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%q: problems %q, want %q", tc.src, got, tc.want)
		}
	}
}
