package data

import (
	"strings"
	"testing"

	"github.com/r1go/r1/chat"
)

func TestCorpusDeterministic(t *testing.T) {
	a, b, c := DefaultCorpus(1), DefaultCorpus(1), DefaultCorpus(2)
	same := 0
	for i := int64(0); i < 50; i++ {
		if a.Doc(i) != b.Doc(i) {
			t.Fatalf("doc %d differs for the same seed", i)
		}
		if a.Doc(i) == c.Doc(i) {
			same++
		}
	}
	if same > 5 {
		t.Errorf("%d of 50 docs equal across seeds 1 and 2", same)
	}
	var got []string
	for d := range a.Docs(10, 3) {
		got = append(got, d)
	}
	if len(got) != 3 || got[0] != a.Doc(10) || got[2] != a.Doc(12) {
		t.Errorf("Docs(10,3) does not yield docs 10..12")
	}
}

// The mix matches the configuration, and the solutions rendered in the
// R1-Zero format grade as intended: correct ones correct, slipped ones
// wrong — so a model imitating the corpus is in format and right only
// some of the time.
func TestCorpusMix(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  CorpusConfig
	}{
		{"default", DefaultCorpus(3)},
		{"all-r1zero-no-errors", CorpusConfig{Seed: 4, CountdownFrac: 0.3, R1ZeroFrac: 1, R1ZeroTaggedFrac: 1}},
		{"hard", CorpusConfig{Seed: 5, CountdownFrac: 0.7, WrongFrac: 0.5, R1ZeroFrac: 0.5, R1ZeroTaggedFrac: 0.5, Difficulty: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 1500
			var r1z, tagged, countdown, wrong, graded, gradedOK int
			for i := int64(0); i < n; i++ {
				text, p, w := tc.cfg.doc(i)
				if p.Kind == Countdown {
					countdown++
				}
				if w {
					wrong++
				}
				if tc.cfg.Difficulty != 0 && p.Difficulty != tc.cfg.Difficulty {
					t.Fatalf("doc %d has difficulty %d", i, p.Difficulty)
				}
				prefix := chat.R1Zero(p.Problem)
				if p.Kind == Arithmetic {
					prefix = chat.R1ZeroInstruction + " User: "
				}
				if !strings.HasPrefix(text, prefix) {
					continue
				}
				r1z++
				completion := text[strings.Index(text, ". Assistant:")+len(". Assistant:"):]
				f, ok := grade(t, p, completion)
				if f {
					tagged++
					graded++
					if ok == !w {
						gradedOK++
					} else {
						t.Errorf("doc %d (wrong=%v) grades correct=%v:\n%s", i, w, ok, completion)
					}
				}
			}
			near := func(name string, got int, want float64) {
				if f := float64(got) / n; f < want-0.05 || f > want+0.05 {
					t.Errorf("%s fraction %.3f, want %.2f±0.05", name, f, want)
				}
			}
			near("countdown", countdown, tc.cfg.CountdownFrac)
			near("wrong", wrong, tc.cfg.WrongFrac)
			near("r1-zero", r1z, tc.cfg.R1ZeroFrac)
			near("tagged r1-zero", tagged, tc.cfg.R1ZeroFrac*tc.cfg.R1ZeroTaggedFrac)
			if graded == 0 {
				t.Fatal("no tagged R1-Zero documents")
			}
		})
	}
}

func TestCorpusValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  CorpusConfig
		want string
	}{
		{DefaultCorpus(1), ""},
		{CorpusConfig{WrongFrac: 1.5}, "wrong_frac"},
		{CorpusConfig{R1ZeroFrac: -0.1}, "r1zero_frac"},
		{CorpusConfig{Difficulty: 9}, "difficulty"},
	} {
		err := tc.cfg.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
