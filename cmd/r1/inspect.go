package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/r1go/r1/model"
	"github.com/r1go/r1/safetensors"
)

func init() {
	register(&command{
		name:    "inspect",
		summary: "show a checkpoint's architecture, parameter count, dtypes, tensors and memory needs",
		run:     runInspect,
	})
}

func runInspect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("inspect", "MODEL_DIR [flags]", stderr)
	tensors := fs.Bool("tensors", true, "list every tensor with its dtype and shape (--tensors=false to leave them out)")
	pos, err := parseFlagsArgs(fs, args, 1, 1, "MODEL_DIR")
	if err != nil {
		return err
	}
	dir := pos[0]
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		return err
	}
	st, err := safetensors.OpenModel(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	var stored int64
	dtypes := map[string]int64{}
	for _, name := range st.Names() {
		t, _ := st.Tensor(name)
		stored += int64(len(t.Data))
		dtypes[t.DType] += t.NumElements()
	}
	n := cfg.NumParams()
	fmt.Fprintf(stdout, "model        %s\n", dir)
	fmt.Fprintf(stdout, "architecture %s\n", cfg.Describe())
	fmt.Fprintf(stdout, "layers       %d × (attention %d q heads / %d kv heads × %d, MLP %d)\n", cfg.Layers, cfg.Heads, cfg.KVHeads, cfg.HeadDim, cfg.Intermediate)
	fmt.Fprintf(stdout, "rope         theta %g", cfg.RopeTheta)
	if cfg.RopeScaling != nil {
		fmt.Fprintf(stdout, ", %s scaling ×%g", cfg.RopeScaling.Type, cfg.RopeScaling.Factor)
	}
	fmt.Fprintf(stdout, ", max positions %d\n", cfg.MaxPositions)
	fmt.Fprintf(stdout, "parameters   %d (%.2fM)\n", n, float64(n)/1e6)
	keys := make([]string, 0, len(dtypes))
	for k := range dtypes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(stdout, "dtypes      ")
	for _, k := range keys {
		fmt.Fprintf(stdout, " %s: %d elements", k, dtypes[k])
	}
	fmt.Fprintf(stdout, " (config says %s)\n", cfg.DType)
	fmt.Fprintf(stdout, "memory       weights on disk %s; inference bf16 %s; training (fp32 master + grads + AdamW moments, 16 B/param) %s + activations\n",
		human(stored), human(2*n), human(16*n))
	if *tensors {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\ntensor\tdtype\tshape")
		for _, name := range st.Names() {
			t, _ := st.Tensor(name)
			fmt.Fprintf(tw, "%s\t%s\t%v\n", name, t.DType, t.Shape)
		}
		tw.Flush()
	}
	return nil
}

func human(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}
