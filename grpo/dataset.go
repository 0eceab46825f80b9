package grpo

import (
	"fmt"

	"github.com/r1go/r1/data"
)

// LoadRows reads the dataset of c from the data registry, the one r1 eval
// reads too, so training and evaluation share the problems, gold answers
// and notion of correctness. An unset split is the train split.
func LoadRows(c DataConfig) ([]data.Example, error) {
	ds, err := data.Open(c.Dataset, c.Split, data.Options{Dir: c.DataDir, Limit: c.Limit})
	if err != nil {
		return nil, fmt.Errorf("data.dataset: %w", err)
	}
	return ds.Examples, nil
}
