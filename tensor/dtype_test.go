package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// format describes a 16-bit IEEE-style binary format: 1 sign bit, ebits
// exponent bits, mbits mantissa bits. The reference functions below are
// written from the IEEE-754 definitions alone and share no code with
// dtype.go.
type format struct {
	name   string
	ebits  uint
	mbits  uint
	decode func(uint16) float32
	encode func(float32) uint16
}

var (
	fmtF16  = format{"F16", 5, 10, F16ToF32, F32ToF16}
	fmtBF16 = format{"BF16", 8, 7, BF16ToF32, F32ToBF16}
	formats = []format{fmtF16, fmtBF16}
)

func (f format) bias() int        { return 1<<(f.ebits-1) - 1 }
func (f format) expMax() uint16   { return 1<<f.ebits - 1 }
func (f format) mantMask() uint16 { return 1<<f.mbits - 1 }
func (f format) quietBit() uint16 { return 1 << (f.mbits - 1) }
func (f format) infBits() uint16  { return f.expMax() << f.mbits }

// maxFinite is the bit pattern of the largest finite positive value.
func (f format) maxFinite() uint16 { return f.infBits() - 1 }

func (f format) isNaN(h uint16) bool {
	return (h>>f.mbits)&f.expMax() == f.expMax() && h&f.mantMask() != 0
}

// refValue is the exact value of h as a float64 from sign, exponent and
// mantissa fields: (-1)^s · 2^(e-bias) · 1.m for normals,
// (-1)^s · 2^(1-bias) · 0.m for subnormals, ±Inf for e all ones and m = 0.
// NaNs report ok = false.
func (f format) refValue(h uint16) (v float64, ok bool) {
	s := h >> 15
	e := int((h >> f.mbits) & f.expMax())
	m := int(h & f.mantMask())
	switch {
	case e == int(f.expMax()) && m != 0:
		return math.NaN(), false
	case e == int(f.expMax()):
		v = math.Inf(1)
	case e == 0:
		v = math.Ldexp(float64(m), 1-f.bias()-int(f.mbits))
	default:
		v = math.Ldexp(float64(m|1<<f.mbits), e-f.bias()-int(f.mbits))
	}
	if s == 1 {
		v = -v
	}
	return v, true
}

// posValues lists the non-negative finite values 0 … maxFinite by bit
// pattern (which orders them), followed by a virtual next value one ulp
// above maxFinite standing for +Inf: IEEE rounding overflows exactly when
// rounding with an unbounded exponent would reach it. Its pattern, infBits,
// has an even mantissa, so a tie at the overflow threshold goes to Inf.
func (f format) posValues() []float64 {
	max := f.maxFinite()
	vals := make([]float64, 0, int(max)+2)
	for h := uint16(0); h <= max; h++ {
		v, _ := f.refValue(h)
		vals = append(vals, v)
	}
	ulp := vals[max] - vals[max-1]
	return append(vals, vals[max]+ulp)
}

// refRound is the reference float32 → 16-bit conversion: the nearest value
// of vals (from posValues, so index = bit pattern) to |x|, ties to the even
// pattern, index max+1 meaning Inf; NaN → quiet NaN of the same sign.
func (f format) refRound(vals []float64, x float32) uint16 {
	var sign uint16
	if math.Signbit(float64(x)) {
		sign = 0x8000
	}
	if x != x {
		return sign | f.infBits() | f.quietBit()
	}
	a := math.Abs(float64(x))
	if math.IsInf(a, 1) {
		return sign | f.infBits()
	}
	i := sort.SearchFloat64s(vals, a) // first vals[i] >= a
	if i == len(vals) {
		return sign | f.infBits()
	}
	if vals[i] == a || i == 0 {
		return sign | uint16(i)
	}
	lo, hi := vals[i-1], vals[i]
	switch dl, dh := a-lo, hi-a; {
	case dl < dh:
		return sign | uint16(i-1)
	case dh < dl:
		return sign | uint16(i)
	case (i-1)&1 == 0:
		return sign | uint16(i-1)
	default:
		return sign | uint16(i)
	}
}

// exact32 converts a float64 that must be representable as a float32.
func exact32(t *testing.T, v float64) float32 {
	t.Helper()
	f := float32(v)
	if float64(f) != v {
		t.Fatalf("%g is not a float32", v)
	}
	return f
}

func TestDecodeAllPatterns(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			for i := 0; i < 1<<16; i++ {
				h := uint16(i)
				got := f.decode(h)
				want, ok := f.refValue(h)
				if !ok {
					if got == got {
						t.Fatalf("%s %#04x: NaN decoded to %v", f.name, h, got)
					}
					if math.Signbit(float64(got)) != (h&0x8000 != 0) {
						t.Fatalf("%s %#04x: NaN lost its sign: %#08x", f.name, h, math.Float32bits(got))
					}
					continue
				}
				// The reference value must itself be a float32 (every
				// 16-bit value is), and the decoder must give its bits,
				// -0 included.
				w := exact32(t, want)
				if math.Float32bits(got) != math.Float32bits(w) {
					t.Fatalf("%s %#04x: decoded %v (%#08x), want %v (%#08x)",
						f.name, h, got, math.Float32bits(got), w, math.Float32bits(w))
				}
			}
		})
	}
}

// BF16 is by definition the top half of an f32.
func TestBF16DecodeIsTopHalf(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		if got := math.Float32bits(BF16ToF32(uint16(i))); got != uint32(i)<<16 {
			t.Fatalf("BF16 %#04x: %#08x", i, got)
		}
	}
}

func TestRoundTripAllPatterns(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			nans := 0
			for i := 0; i < 1<<16; i++ {
				h := uint16(i)
				got := f.encode(f.decode(h))
				if !f.isNaN(h) {
					if got != h {
						t.Fatalf("%s %#04x → %v → %#04x", f.name, h, f.decode(h), got)
					}
					continue
				}
				nans++
				if !f.isNaN(got) || got&f.quietBit() == 0 || got&0x8000 != h&0x8000 {
					t.Fatalf("%s NaN %#04x came back as %#04x: want a quiet NaN of the same sign", f.name, h, got)
				}
			}
			// 2 signs × (2^mbits − 1) NaN mantissas.
			if want := 2 * (1<<f.mbits - 1); nans != want {
				t.Fatalf("%s: %d NaN patterns, want %d", f.name, nans, want)
			}
		})
	}
}

// TestRoundHalfway checks every midpoint between adjacent 16-bit values
// (both signs, including the midpoint between the largest finite value and
// the overflow threshold) and the float32s just below and above it.
func TestRoundHalfway(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			vals := f.posValues()
			for i := 0; i+1 < len(vals); i++ {
				lo, hi := uint16(i), uint16(i+1) // hi == inf for the last pair
				mid := exact32(t, (vals[i]+vals[i+1])/2)
				even := lo
				if lo&1 == 1 {
					even = hi
				}
				below := math.Nextafter32(mid, 0)
				above := math.Nextafter32(mid, float32(math.Inf(1)))
				for _, c := range []struct {
					x    float32
					want uint16
				}{{mid, even}, {below, lo}, {above, hi}} {
					for _, sign := range []float32{1, -1} {
						x := sign * c.x
						want := c.want
						if sign < 0 {
							want |= 0x8000
						}
						if got := f.encode(x); got != want {
							t.Fatalf("%s(%v = %#08x): got %#04x, want %#04x (between %#04x and %#04x)",
								f.name, x, math.Float32bits(x), got, want, lo, hi)
						}
						if ref := f.refRound(vals, x); ref != want {
							t.Fatalf("reference %s(%v): %#04x, want %#04x", f.name, x, ref, want)
						}
					}
				}
			}
		})
	}
}

// TestRoundInterval checks more points of every interval between adjacent
// 16-bit values against the reference: both ends, the quarter points and
// the float32s next to each end.
func TestRoundInterval(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			vals := f.posValues()
			for i := 0; i+1 < len(vals); i++ {
				a, b := vals[i], vals[i+1]
				xs := []float32{
					float32(a), math.Nextafter32(float32(a), float32(math.Inf(1))),
					float32(a + (b-a)/4), float32(a + 3*(b-a)/4),
					math.Nextafter32(float32(b), 0),
				}
				for _, x := range xs {
					for _, x := range []float32{x, -x} {
						if got, want := f.encode(x), f.refRound(vals, x); got != want {
							t.Fatalf("%s(%v = %#08x) = %#04x, want %#04x", f.name, x, math.Float32bits(x), got, want)
						}
					}
				}
			}
		})
	}
}

// TestRoundRandom compares random float32 bit patterns (every exponent,
// NaNs included) with the reference.
func TestRoundRandom(t *testing.T) {
	n := 1 << 21
	if testing.Short() {
		n = 1 << 16
	}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			vals := f.posValues()
			r := rand.New(rand.NewPCG(1, uint64(f.mbits)))
			for range n {
				x := math.Float32frombits(r.Uint32())
				got, want := f.encode(x), f.refRound(vals, x)
				if f.isNaN(want) {
					if !f.isNaN(got) || got&f.quietBit() == 0 || got&0x8000 != want&0x8000 {
						t.Fatalf("%s(%#08x) = %#04x, want a quiet NaN like %#04x", f.name, math.Float32bits(x), got, want)
					}
					continue
				}
				if got != want {
					t.Fatalf("%s(%v = %#08x) = %#04x, want %#04x", f.name, x, math.Float32bits(x), got, want)
				}
			}
		})
	}
}

// TestRoundNaNAll converts every float32 NaN bit pattern (2 × (2^23 − 1)),
// signalling ones included: those whose payload lies only in the bits a
// 16-bit format drops would become ±Inf under plain truncation.
func TestRoundNaNAll(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			for _, sign := range []uint32{0, 0x80000000} {
				for m := uint32(1); m < 1<<23; m++ {
					b := sign | 0x7f800000 | m
					got := f.encode(math.Float32frombits(b))
					if !f.isNaN(got) || got&f.quietBit() == 0 || uint32(got&0x8000)<<16 != sign {
						t.Fatalf("%s(NaN %#08x) = %#04x: want a quiet NaN of the same sign", f.name, b, got)
					}
				}
			}
		})
	}
}

func TestRoundSpecialCases(t *testing.T) {
	f32 := func(b uint32) float32 { return math.Float32frombits(b) }
	inf := float32(math.Inf(1))
	cases := []struct {
		name string
		f    format
		x    float32
		want uint16
	}{
		// signed zeros and infinities
		{"+0", fmtF16, 0, 0x0000},
		{"-0", fmtF16, f32(0x80000000), 0x8000},
		{"+Inf", fmtF16, inf, 0x7c00},
		{"-Inf", fmtF16, -inf, 0xfc00},
		{"1", fmtF16, 1, 0x3c00},
		{"-2", fmtF16, -2, 0xc000},
		{"1/3", fmtF16, 1.0 / 3, 0x3555},
		// overflow threshold: max 65504, ulp 32, halfway 65520
		{"65504", fmtF16, 65504, 0x7bff},
		{"65519.99", fmtF16, 65519.99, 0x7bff},
		{"below 65520", fmtF16, math.Nextafter32(65520, 0), 0x7bff},
		{"65520", fmtF16, 65520, 0x7c00},
		{"-65520", fmtF16, -65520, 0xfc00},
		{"-65519.99", fmtF16, -65519.99, 0xfbff},
		{"65536", fmtF16, 65536, 0x7c00},
		{"1e10", fmtF16, 1e10, 0x7c00},
		{"MaxFloat32", fmtF16, math.MaxFloat32, 0x7c00},
		{"-MaxFloat32", fmtF16, -math.MaxFloat32, 0xfc00},
		// underflow: min normal 2^-14, min subnormal 2^-24
		{"2^-14", fmtF16, 0x1p-14, 0x0400},
		{"largest subnormal", fmtF16, 0x3ffp-24, 0x03ff},
		{"subnormal/normal tie", fmtF16, 0x7ffp-25, 0x0400},
		{"2^-24", fmtF16, 0x1p-24, 0x0001},
		{"-2^-24", fmtF16, -0x1p-24, 0x8001},
		{"1.5·2^-24 tie to even", fmtF16, 0x3p-25, 0x0002},
		{"2.5·2^-24 tie to even", fmtF16, 0x5p-25, 0x0002},
		{"2^-25 tie to zero", fmtF16, 0x1p-25, 0x0000},
		{"-2^-25 tie to -0", fmtF16, -0x1p-25, 0x8000},
		{"above 2^-25", fmtF16, math.Nextafter32(0x1p-25, 1), 0x0001},
		{"-above 2^-25", fmtF16, -math.Nextafter32(0x1p-25, 1), 0x8001},
		{"below 2^-25", fmtF16, math.Nextafter32(0x1p-25, 0), 0x0000},
		{"2^-26", fmtF16, 0x1p-26, 0x0000},
		{"-2^-26", fmtF16, -0x1p-26, 0x8000},
		{"f32 min normal", fmtF16, 0x1p-126, 0x0000},
		{"f32 min subnormal", fmtF16, f32(1), 0x0000},
		{"-f32 min subnormal", fmtF16, f32(0x80000001), 0x8000},
		// NaN: a signalling NaN whose payload is all in the dropped bits
		{"qNaN", fmtF16, f32(0x7fc00000), 0x7e00},
		{"-qNaN", fmtF16, f32(0xffc00000), 0xfe00},
		{"sNaN low payload", fmtF16, f32(0x7f800001), 0x7e00},
		{"-sNaN low payload", fmtF16, f32(0xff801fff), 0xfe00},

		{"+0", fmtBF16, 0, 0x0000},
		{"-0", fmtBF16, f32(0x80000000), 0x8000},
		{"+Inf", fmtBF16, inf, 0x7f80},
		{"-Inf", fmtBF16, -inf, 0xff80},
		{"1", fmtBF16, 1, 0x3f80},
		{"1/3", fmtBF16, 1.0 / 3, 0x3eab},
		{"1+2^-8 tie to even", fmtBF16, 1 + 0x1p-8, 0x3f80},
		{"1+3·2^-8 tie to even", fmtBF16, 1 + 0x3p-8, 0x3f82},
		{"max bf16", fmtBF16, f32(0x7f7f0000), 0x7f7f},
		{"below overflow tie", fmtBF16, f32(0x7f7f7fff), 0x7f7f},
		{"overflow tie", fmtBF16, f32(0x7f7f8000), 0x7f80},
		{"MaxFloat32", fmtBF16, math.MaxFloat32, 0x7f80},
		{"-MaxFloat32", fmtBF16, -math.MaxFloat32, 0xff80},
		{"f32 min subnormal", fmtBF16, f32(1), 0x0000},
		{"-f32 min subnormal", fmtBF16, f32(0x80000001), 0x8000},
		{"subnormal tie to even", fmtBF16, f32(0x00018000), 0x0002},
		{"subnormal to normal", fmtBF16, f32(0x007fffff), 0x0080},
		{"qNaN", fmtBF16, f32(0x7fc00000), 0x7fc0},
		{"sNaN low payload", fmtBF16, f32(0x7f800001), 0x7fc0},
		{"-sNaN low payload", fmtBF16, f32(0xff80ffff), 0xffc0},
		{"sNaN high payload", fmtBF16, f32(0x7f810000), 0x7fc1},
	}
	for _, c := range cases {
		if got := c.f.encode(c.x); got != c.want {
			t.Errorf("%s %s(%v = %#08x) = %#04x, want %#04x", c.f.name, c.name, c.x, math.Float32bits(c.x), got, c.want)
		}
	}
}

func TestDTypeSizeString(t *testing.T) {
	for _, c := range []struct {
		d    DType
		size int
		s    string
	}{
		{F32, 4, "F32"}, {BF16, 2, "BF16"}, {F16, 2, "F16"}, {I32, 4, "I32"}, {F64, 8, "F64"},
		{DType(200), 2, "DType(200)"},
	} {
		if got := c.d.Size(); got != c.size {
			t.Errorf("%v.Size() = %d, want %d", c.d, got, c.size)
		}
		if got := c.d.String(); got != c.s {
			t.Errorf("DType(%d).String() = %q, want %q", uint8(c.d), got, c.s)
		}
	}
}

func TestParseDType(t *testing.T) {
	for _, c := range []struct {
		s    string
		want DType
		ok   bool
	}{
		{"F32", F32, true}, {"float32", F32, true}, {"fp32", F32, true},
		{"BF16", BF16, true}, {"bfloat16", BF16, true}, {"bf16", BF16, true},
		{"F16", F16, true}, {"float16", F16, true}, {"fp16", F16, true}, {"half", F16, true},
		{"", 0, false}, {"f32", 0, false}, {"I32", 0, false}, {"F64", 0, false},
		{"float64", 0, false}, {"int8", 0, false}, {" F32", 0, false},
	} {
		got, err := ParseDType(c.s)
		if c.ok && (err != nil || got != c.want) {
			t.Errorf("ParseDType(%q) = %v, %v; want %v", c.s, got, err, c.want)
		}
		if !c.ok && err == nil {
			t.Errorf("ParseDType(%q) = %v, want an error", c.s, got)
		}
	}
	// Every float dtype's String parses back to itself.
	for _, d := range []DType{F32, BF16, F16} {
		if got, err := ParseDType(d.String()); err != nil || got != d {
			t.Errorf("ParseDType(%v.String()) = %v, %v", d, got, err)
		}
	}
}

func TestEncodeDecodeF32(t *testing.T) {
	src := []float32{0, float32(math.Copysign(0, -1)), 1, -2.5, 1.0 / 3, 65504, 70000, 0x1p-24, 1e-30, float32(math.Inf(-1)), 3.14159}
	// F32 is the little-endian bits.
	raw := EncodeF32(src, F32)
	if len(raw) != 4*len(src) {
		t.Fatalf("F32: %d bytes", len(raw))
	}
	for i, v := range src {
		if got := binary.LittleEndian.Uint32(raw[4*i:]); got != math.Float32bits(v) {
			t.Errorf("F32 [%d]: %#08x, want %#08x", i, got, math.Float32bits(v))
		}
	}
	dst := make([]float32, len(src))
	if err := DecodeF32(dst, raw, F32); err != nil {
		t.Fatal(err)
	}
	for i := range src {
		if math.Float32bits(dst[i]) != math.Float32bits(src[i]) {
			t.Errorf("F32 decode [%d] = %v, want %v", i, dst[i], src[i])
		}
	}
	// 16-bit types: little-endian halves produced by the scalar conversions.
	for _, f := range formats {
		d, _ := ParseDType(f.name)
		raw := EncodeF32(src, d)
		if len(raw) != 2*len(src) {
			t.Fatalf("%s: %d bytes", f.name, len(raw))
		}
		for i, v := range src {
			if got := binary.LittleEndian.Uint16(raw[2*i:]); got != f.encode(v) {
				t.Errorf("%s [%d]: %#04x, want %#04x", f.name, i, got, f.encode(v))
			}
		}
		if err := DecodeF32(dst, raw, d); err != nil {
			t.Fatal(err)
		}
		for i, v := range src {
			if want := f.decode(f.encode(v)); math.Float32bits(dst[i]) != math.Float32bits(want) {
				t.Errorf("%s decode [%d] = %v, want %v", f.name, i, dst[i], want)
			}
		}
	}
	// Errors: wrong byte count, non-float dtype.
	if err := DecodeF32(make([]float32, 3), make([]byte, 10), F32); err == nil {
		t.Error("DecodeF32 of 10 bytes into 3 F32: no error")
	}
	if err := DecodeF32(make([]float32, 3), make([]byte, 4), BF16); err == nil {
		t.Error("DecodeF32 of 4 bytes into 3 BF16: no error")
	}
	if err := DecodeF32(make([]float32, 2), make([]byte, 8), I32); err == nil {
		t.Error("DecodeF32 of I32: no error")
	}
	if err := DecodeF32(nil, nil, F16); err != nil {
		t.Errorf("DecodeF32 of nothing: %v", err)
	}
}
