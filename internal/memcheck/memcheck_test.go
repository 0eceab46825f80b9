package memcheck

import (
	"math"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/tensor"
)

// Each case runs a snippet against a fresh wrapper and states what the
// checker must report: these are the mistakes it exists to catch, so a
// checker that stopped counting or recording would fail here.
func TestCatchesMisuse(t *testing.T) {
	cases := []struct {
		name      string
		run       func(b *Backend)
		live      int
		liveBytes int64
		errSubstr string // "" = no error may be recorded
	}{
		{"alloc and free balance", func(b *Backend) {
			x := b.New(tensor.F32, 2, 3)
			y := b.UploadInt32([]int32{1, 2}, 2)
			z := b.Upload([]float32{1, 2, 3, 4}, tensor.BF16, 4)
			b.Free(y)
			b.Free(x)
			b.Free(z)
		}, 0, 0, ""},
		{"leak", func(b *Backend) {
			b.Free(b.New(tensor.F32, 4))
			b.New(tensor.F32, 5, 2) // never freed
		}, 1, 40, ""},
		{"double free", func(b *Backend) {
			x := b.New(tensor.F32, 3)
			b.Free(x)
			b.Free(x)
		}, 0, 0, "double free"},
		{"free of a SliceRows view", func(b *Backend) {
			x := b.New(tensor.F32, 4, 2)
			b.Free(b.SliceRows(x, 1, 3))
		}, 1, 32, "a view"},
		{"free of a Reshape view", func(b *Backend) {
			x := b.New(tensor.F32, 4, 2)
			b.Free(x.Reshape(8))
		}, 1, 32, "a view"},
		{"free of a foreign tensor", func(b *Backend) {
			b.Free(cpu.New().New(tensor.F32, 3))
		}, 0, 0, "not allocated through this backend"},
		{"free of nil", func(b *Backend) { b.Free(nil) }, 0, 0, "Free(nil)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := Wrap(cpu.New())
			c.run(b)
			st := b.Stats()
			if st.Live != c.live || st.LiveBytes != c.liveBytes {
				t.Errorf("live %d tensors / %d B, want %d / %d", st.Live, st.LiveBytes, c.live, c.liveBytes)
			}
			errs := b.Errors()
			switch {
			case c.errSubstr == "" && len(errs) > 0:
				t.Errorf("unexpected errors: %q", errs)
			case c.errSubstr != "" && (len(errs) != 1 || !strings.Contains(errs[0], c.errSubstr)):
				t.Errorf("errors %q, want one containing %q", errs, c.errSubstr)
			}
		})
	}
}

func TestLeakReportNamesTheSite(t *testing.T) {
	b := Wrap(cpu.New())
	b.New(tensor.F32, 2) // allocated before the mark: not a leak of the code under test
	mark := b.Mark()
	leak := b.New(tensor.F32, 3, 3)
	b.Free(b.New(tensor.I32, 7))
	got := b.Since(mark)
	if len(got) != 1 || !strings.Contains(got[0], "memcheck_test.go:") || !strings.Contains(got[0], leak.String()) {
		t.Fatalf("Since = %q, want one entry for %v from this file", got, leak)
	}
	sites := b.LiveSites()
	if len(sites) != 2 || !strings.HasPrefix(sites[0], "1× 36 B") {
		t.Fatalf("LiveSites = %q, want the 36-byte site first of two", sites)
	}
}

func TestPeak(t *testing.T) {
	b := Wrap(cpu.New())
	x := b.New(tensor.F32, 100) // 400 B
	y := b.New(tensor.F64, 10)  // 80 B
	b.Free(x)
	z := b.New(tensor.F32, 10) // 40 B
	if st := b.Stats(); st.PeakBytes != 480 || st.LiveBytes != 120 || st.Allocs != 3 || st.Frees != 1 {
		t.Fatalf("stats %+v, want peak 480, live 120, 3 allocs, 1 free", st)
	}
	b.ResetPeak()
	b.Free(y)
	b.Free(z)
	if st := b.Stats(); st.PeakBytes != 120 || st.LiveBytes != 0 {
		t.Fatalf("after ResetPeak: %+v, want peak 120, live 0", st)
	}
}

// A freed tensor reads as poison through the tensor itself and through any
// view of it, for every dtype, and kernels given it produce NaN.
func TestPoisonAfterFree(t *testing.T) {
	b := Wrap(cpu.New())
	for _, dt := range []tensor.DType{tensor.F32, tensor.F64, tensor.BF16, tensor.F16, tensor.I32} {
		t.Run(dt.String(), func(t *testing.T) {
			var x *tensor.Tensor
			if dt == tensor.I32 {
				x = b.UploadInt32([]int32{1, 2, 3, 4, 5, 6}, 3, 2)
			} else {
				x = b.Upload([]float32{1, 2, 3, 4, 5, 6}, dt, 3, 2)
			}
			view := b.SliceRows(x, 1, 3)
			b.Free(x)
			for name, got := range map[string][]float32{"tensor": b.Download(x), "view": b.Download(view)} {
				for i, v := range got {
					bad := math.IsNaN(float64(v))
					if dt == tensor.I32 {
						bad = v == PoisonI32
					}
					if !bad {
						t.Fatalf("%s element %d after free = %v, want poison", name, i, v)
					}
				}
			}
		})
	}
	// A kernel reading freed memory spreads the poison.
	w := b.Upload([]float32{1, 2}, tensor.F32, 2)
	y := b.New(tensor.F32, 2)
	b.Free(w)
	b.Add(y, y, w)
	if b.AllFinite(y) {
		t.Fatal("Add of a freed tensor gave finite values: use-after-free would pass silently")
	}
	if errs := b.Errors(); len(errs) > 0 {
		t.Fatalf("unexpected errors: %q", errs)
	}
}

func TestTensorsReportTheWrapperAsDevice(t *testing.T) {
	// Gradient buffers are allocated through t.Dev: it must be the wrapper
	// or they escape the count.
	b := Wrap(cpu.New())
	x := b.New(tensor.F32, 4, 2)
	for name, got := range map[string]*tensor.Tensor{"New": x, "Upload": b.Upload([]float32{1}, tensor.F32, 1),
		"UploadInt32": b.UploadInt32([]int32{1}, 1), "SliceRows": b.SliceRows(x, 0, 1), "Reshape": x.Reshape(8)} {
		if got.Dev != tensor.Backend(b) {
			t.Errorf("%s: Dev is %s, want the wrapper", name, got.Dev.Name())
		}
	}
	if b.Name() != "cpu+memcheck" {
		t.Errorf("Name = %q", b.Name())
	}
}
