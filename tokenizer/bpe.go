package tokenizer

// state is per-goroutine scratch: the word cache and the merge buffers.
type state struct {
	cache *wordCache
	syms  []symbol
	heap  mergeHeap
	bufs  [][]string // per pre-tokenizer step, for splitters that collect
}

// maxCachedWord is the longest word (in bytes) worth caching.
const maxCachedWord = 256

func newState() *state {
	return &state{cache: newWordCache()}
}

type symbol struct {
	id         int32
	prev, next int32
	gone       bool
}

type mergeItem struct {
	rank, pos, newID int32
}

// mergeHeap is a binary min-heap by (rank, pos): the lowest-ranked merge
// first and, among equal ranks, the leftmost, exactly as Hugging Face's BPE.
type mergeHeap []mergeItem

func (h mergeItem) less(o mergeItem) bool {
	return h.rank < o.rank || (h.rank == o.rank && h.pos < o.pos)
}

func (h *mergeHeap) push(x mergeItem) {
	*h = append(*h, x)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !a[i].less(a[p]) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *mergeHeap) pop() mergeItem {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && a[r].less(a[l]) {
			m = r
		}
		if !a[m].less(a[i]) {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}

// bpe appends the ids of one pre-tokenized word given as raw bytes.
func (t *Tokenizer) bpe(st *state, w string, ids []int32) []int32 {
	if len(w) == 1 {
		if id := t.byteID[w[0]]; id >= 0 {
			ids = append(ids, id)
		}
		return ids
	}
	if out, ok := st.cache.get(w, ids); ok {
		return out
	}
	if t.ignoreMerges {
		if id, ok := t.rawVocab[w]; ok {
			ids = append(ids, int32(id))
			if len(w) <= maxCachedWord {
				st.cache.put(w, ids[len(ids)-1:])
			}
			return ids
		}
	}
	syms := st.syms[:0]
	for i := 0; i < len(w); i++ {
		id := t.byteID[w[i]]
		if id < 0 {
			continue
		}
		syms = append(syms, symbol{id: id, prev: int32(len(syms) - 1), next: int32(len(syms) + 1)})
	}
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}
	h := st.heap[:0]
	for i := 0; i+1 < len(syms); i++ {
		if v, ok := t.merges[uint64(syms[i].id)<<32|uint64(syms[i+1].id)]; ok {
			h.push(mergeItem{rank: int32(v >> 32), pos: int32(i), newID: int32(uint32(v))})
		}
	}
	for len(h) > 0 {
		top := h.pop()
		cur := &syms[top.pos]
		if cur.gone || cur.next < 0 {
			continue
		}
		nx := cur.next
		right := syms[nx]
		v, ok := t.merges[uint64(cur.id)<<32|uint64(right.id)]
		if !ok || int32(uint32(v)) != top.newID {
			continue // stale entry: a neighbour was merged away
		}
		cur.id = top.newID
		cur.next = right.next
		syms[nx].gone = true
		if right.next >= 0 {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			p := syms[cur.prev]
			if v, ok := t.merges[uint64(p.id)<<32|uint64(cur.id)]; ok {
				h.push(mergeItem{rank: int32(v >> 32), pos: cur.prev, newID: int32(uint32(v))})
			}
		}
		if cur.next >= 0 {
			if v, ok := t.merges[uint64(cur.id)<<32|uint64(syms[cur.next].id)]; ok {
				h.push(mergeItem{rank: int32(v >> 32), pos: top.pos, newID: int32(uint32(v))})
			}
		}
	}
	st.heap = h
	st.syms = syms
	start := len(ids)
	for i := 0; i >= 0 && i < len(syms); i = int(syms[i].next) {
		ids = append(ids, int32(syms[i].id))
	}
	if len(w) <= maxCachedWord {
		st.cache.put(w, ids[start:])
	}
	return ids
}
