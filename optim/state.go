package optim

import (
	"fmt"
	"strconv"

	"github.com/r1go/r1/safetensors"
	"github.com/r1go/r1/tensor"
)

// stepsKey is the metadata field of the state file holding Steps.
const stepsKey = "adam_steps"

// SaveState writes the optimizer state to path (safetensors, written
// atomically): for each parameter NAME its moments m.NAME and v.NAME and,
// for 16-bit weights, the fp32 master copy master.NAME, all float32, with
// Steps in the metadata. Resuming from it continues bit for bit.
func (o *AdamW) SaveState(path string) error {
	var ts []safetensors.Tensor
	for i, p := range o.Params {
		for _, x := range o.stateTensors(i) {
			if x.t == nil {
				continue
			}
			t, err := safetensors.FromFloat32(x.prefix+p.Name, tensor.F32, x.t.Shape, o.dev.Download(x.t))
			if err != nil {
				return err
			}
			ts = append(ts, t)
		}
	}
	return safetensors.Write(path, ts, map[string]string{stepsKey: strconv.Itoa(o.Steps)})
}

// LoadState restores what SaveState wrote into an optimizer built for the
// same parameters. Errors name the file and the missing or misshapen tensor.
func (o *AdamW) LoadState(path string) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	steps, err := strconv.Atoi(f.Metadata()[stepsKey])
	if err != nil {
		return fmt.Errorf("%s: metadata field %q: want an integer: %w", path, stepsKey, err)
	}
	for i, p := range o.Params {
		for _, x := range o.stateTensors(i) {
			if x.t == nil {
				continue
			}
			name := x.prefix + p.Name
			t, ok := f.Tensor(name)
			if !ok {
				return fmt.Errorf("%s: tensor %q is missing", path, name)
			}
			if !tensor.SameShape(t.Shape, x.t.Shape) {
				return fmt.Errorf("%s: tensor %q has shape %v, want %v", path, name, t.Shape, x.t.Shape)
			}
			vals, err := t.Float32()
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			src := o.dev.Upload(vals, tensor.F32, t.Shape...)
			o.dev.Copy(x.t, src)
			o.dev.Free(src)
		}
	}
	o.Steps = steps
	return nil
}

// stateTensors names parameter i's state tensors by their file prefix
// (master is nil for fp32 weights).
func (o *AdamW) stateTensors(i int) []struct {
	prefix string
	t      *tensor.Tensor
} {
	s := o.state[i]
	return []struct {
		prefix string
		t      *tensor.Tensor
	}{{"m.", s.m}, {"v.", s.v}, {"master.", s.master}}
}
