package safetensors

import (
	"testing"
)

// FuzzOpen feeds arbitrary bytes to the header parser (the part of Open that
// sees untrusted input) and checks that it either fails cleanly or returns
// tensors whose data exactly tiles the data region.
func FuzzOpen(f *testing.F) {
	f.Add(rawFile(`{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[],"data_offsets":[4,6]}}`, make([]byte, 6)))
	f.Add(rawFile(`{"a":{"dtype":"I64","shape":[0],"data_offsets":[0,0]}}`, nil))
	f.Add(rawFile(`{"a":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}}`, make([]byte, 2)))
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)))
	f.Add([]byte{255, 255, 255, 255, 255, 255, 255, 255, '{'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := parse("fuzz.safetensors", b)
		if err != nil {
			return
		}
		var total int
		for i := range file.tensors {
			tt := &file.tensors[i]
			size, err := byteSize(tt.DType, tt.Shape)
			if err != nil || int64(len(tt.Data)) != size {
				t.Fatalf("tensor %q: %d data bytes, byteSize %d (%v)", tt.Name, len(tt.Data), size, err)
			}
			total += len(tt.Data)
			if v, err := tt.Float32(); err == nil && int64(len(v)) != tt.NumElements() {
				t.Fatalf("tensor %q: Float32 gave %d values for %d elements", tt.Name, len(v), tt.NumElements())
			}
		}
		n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16 | int(b[3])<<24
		if total != len(b)-8-n {
			t.Fatalf("tensors cover %d bytes of a %d-byte data region", total, len(b)-8-n)
		}
	})
}
