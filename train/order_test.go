package train

import (
	"math/rand/v2"
	"testing"
)

// Order gives each epoch's seeded permutation, the same whatever the
// positions asked before (a resumed run asks from its cursor on).
func TestOrder(t *testing.T) {
	const n = 7
	o := &Order{Seed: 5, N: n}
	seen := map[int]bool{}
	for c := 0; c < 3*n; c++ {
		epoch := c / n
		want := rand.New(rand.NewPCG(5, uint64(epoch)+1)).Perm(n)[c%n]
		if got := o.At(c); got != want {
			t.Fatalf("cursor %d: %d, want %d", c, got, want)
		}
		if epoch == 1 {
			seen[o.At(c)] = true
		}
	}
	if len(seen) != n {
		t.Fatalf("epoch 1 visits %d of %d items", len(seen), n)
	}
	resumed := &Order{Seed: 5, N: n}
	if resumed.At(2*n+3) != o.At(2*n+3) || resumed.At(4) != o.At(4) {
		t.Fatal("a fresh Order disagrees with one that walked there")
	}
}
