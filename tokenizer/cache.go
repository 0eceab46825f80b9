package tokenizer

import "hash/maphash"

// wordCache maps a word's bytes to its BPE ids. It is an open-addressing
// table over two arenas, which costs about half of a Go map[string][]int
// lookup on this path (the profile's largest item) and makes no per-entry
// allocations. When full (64k words, a few MB) it starts over, keeping
// memory bounded; a tokenizer keeps at most one per core.
type wordCache struct {
	seed  maphash.Seed
	slots []cacheSlot
	keys  []byte
	ids   []int32
	n     int
}

type cacheSlot struct {
	hash       uint64 // 0 marks an empty slot
	koff, ioff uint32
	klen, ilen uint16
}

const (
	cacheMinSlots = 1 << 12
	cacheMaxSlots = 1 << 17
)

func newWordCache() *wordCache {
	return &wordCache{seed: maphash.MakeSeed(), slots: make([]cacheSlot, cacheMinSlots)}
}

func (c *wordCache) hash(w string) uint64 {
	h := maphash.String(c.seed, w)
	if h == 0 {
		h = 1
	}
	return h
}

// get appends the cached ids of w to dst.
func (c *wordCache) get(w string, dst []int32) ([]int32, bool) {
	h := c.hash(w)
	mask := uint64(len(c.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &c.slots[i]
		if s.hash == 0 {
			return dst, false
		}
		if s.hash == h && int(s.klen) == len(w) && string(c.keys[s.koff:s.koff+uint32(s.klen)]) == w {
			return append(dst, c.ids[s.ioff:s.ioff+uint32(s.ilen)]...), true
		}
	}
}

// put stores ids for w (len(w) must fit in uint16; callers cache only short
// words).
func (c *wordCache) put(w string, ids []int32) {
	if 2*(c.n+1) > len(c.slots) {
		if len(c.slots) < cacheMaxSlots {
			c.grow()
		} else {
			clear(c.slots)
			c.keys, c.ids, c.n = c.keys[:0], c.ids[:0], 0
		}
	}
	s := cacheSlot{hash: c.hash(w), koff: uint32(len(c.keys)), klen: uint16(len(w)), ioff: uint32(len(c.ids)), ilen: uint16(len(ids))}
	c.keys = append(c.keys, w...)
	c.ids = append(c.ids, ids...)
	c.insert(s)
	c.n++
}

func (c *wordCache) insert(s cacheSlot) {
	mask := uint64(len(c.slots) - 1)
	for i := s.hash & mask; ; i = (i + 1) & mask {
		if c.slots[i].hash == 0 {
			c.slots[i] = s
			return
		}
	}
}

func (c *wordCache) grow() {
	old := c.slots
	c.slots = make([]cacheSlot, 2*len(old))
	for _, s := range old {
		if s.hash != 0 {
			c.insert(s)
		}
	}
}
