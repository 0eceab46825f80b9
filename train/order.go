package train

import "math/rand/v2"

// Order is a run's data order: epoch after epoch, each a permutation of the
// N items derived from (Seed, epoch) alone, so that a cursor (items
// consumed) is the whole data state a checkpoint needs. The permutation of
// the current epoch is kept: drawing it again for every item made fetching
// a step's data O(N) per item.
type Order struct {
	Seed uint64
	N    int

	epoch int
	perm  []int
}

// At is the item at position cursor of the order.
func (o *Order) At(cursor int) int {
	epoch, k := cursor/o.N, cursor%o.N
	if o.perm == nil || epoch != o.epoch {
		o.perm = rand.New(rand.NewPCG(o.Seed, uint64(epoch)+1)).Perm(o.N)
		o.epoch = epoch
	}
	return o.perm[k]
}
