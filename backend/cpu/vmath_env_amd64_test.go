package cpu

import (
	"strings"
	"testing"
)

// R1_SIMD caps the vector-math level to one the CPU supports and says so
// on stderr when it cannot.
func TestLevelFromEnv(t *testing.T) {
	for _, c := range []struct {
		value   string
		best    int
		want    int
		message bool
	}{
		{"", simdAVX512, simdAVX512, false},
		{"", simdAVX2, simdAVX2, false},
		{"avx2", simdAVX512, simdAVX2, false},
		{"generic", simdAVX512, simdGo, false},
		{"avx512", simdAVX512, simdAVX512, false},
		{"avx512", simdAVX2, simdAVX2, true}, // the CPU lacks it
		{"sse4", simdAVX2, simdAVX2, true},   // no such level
	} {
		var msg strings.Builder
		got := levelFromEnv(c.value, c.best, &msg)
		if got != c.want || (msg.Len() > 0) != c.message {
			t.Errorf("levelFromEnv(%q, %s) = %s, message %q; want %s, message %v",
				c.value, levelNames[c.best], levelNames[got], msg.String(), levelNames[c.want], c.message)
		}
		if c.message && !strings.Contains(msg.String(), "R1_SIMD") {
			t.Errorf("message %q does not name R1_SIMD", msg.String())
		}
	}
}
