package grpo

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/r1go/r1/data"
)

// Training reads its rows from the data registry, the source r1 eval
// reads: the same examples, in the same order, for the same name.
func TestLoadRowsIsTheRegistry(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Skip("shared data not found at", dir)
	}
	for _, tc := range []DataConfig{
		{Dataset: "gsm8k", Split: "test", DataDir: dir, Limit: 50},
		{Dataset: "countdown", Split: "train", DataDir: dir, Limit: 20},
		{Dataset: "math500", DataDir: dir, Limit: 5},
		{Dataset: "synthetic:mixed", Split: "train", Limit: 9},
	} {
		rows, err := LoadRows(tc)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := data.Open(tc.Dataset, tc.Split, data.Options{Dir: tc.DataDir, Limit: tc.Limit})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(rows, ds.Examples) {
			t.Errorf("%s: LoadRows differs from data.Open", tc.Dataset)
		}
	}
	if _, err := LoadRows(DataConfig{Dataset: "nosuch"}); err == nil || !strings.HasPrefix(err.Error(), "data.dataset: ") {
		t.Errorf("unknown dataset: %v, want an error naming data.dataset", err)
	}
}
