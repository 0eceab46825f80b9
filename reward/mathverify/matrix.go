package mathverify

// matArith rewrites sums, products and negations of matrices into one
// matrix of symbolic entries, so "A + B" can be compared with its value.
// It returns false when n is not such an expression.
func matArith(n *node) (*node, bool) {
	switch n.kind {
	case kMatrix:
		return n, true
	case kNeg:
		m, ok := matArith(n.kids[0])
		if !ok {
			return nil, false
		}
		out := &node{kind: kMatrix, rows: m.rows, cols: m.cols}
		for _, e := range m.kids {
			out.kids = append(out.kids, op(kNeg, e))
		}
		return out, true
	case kAdd:
		var acc *node
		for _, k := range n.kids {
			m, ok := matArith(k)
			if !ok {
				return nil, false
			}
			if acc == nil {
				acc = m
				continue
			}
			if acc.rows != m.rows || acc.cols != m.cols {
				return nil, false
			}
			if entrySize(acc)+entrySize(m)+1 > maxMatrixEntry {
				return nil, false
			}
			sum := &node{kind: kMatrix, rows: m.rows, cols: m.cols}
			for i := range m.kids {
				sum.kids = append(sum.kids, op(kAdd, acc.kids[i], m.kids[i]))
			}
			acc = sum
		}
		return acc, acc != nil
	case kMul:
		var acc *node // a matrix once one has been seen
		var scale []*node
		for _, k := range n.kids {
			m, ok := matArith(k)
			if !ok {
				if !k.isScalar() {
					return nil, false
				}
				scale = append(scale, k)
				continue
			}
			if acc == nil {
				acc = m
				continue
			}
			if acc.cols != m.rows || acc.rows*m.cols > 400 {
				return nil, false
			}
			// Entries of repeated products grow geometrically; refuse
			// before they get expensive.
			if acc.cols*(entrySize(acc)+entrySize(m)+1) > maxMatrixEntry {
				return nil, false
			}
			prod := &node{kind: kMatrix, rows: acc.rows, cols: m.cols}
			for i := 0; i < acc.rows; i++ {
				for j := 0; j < m.cols; j++ {
					s := &node{kind: kAdd}
					for k := 0; k < acc.cols; k++ {
						s.kids = append(s.kids, op(kMul, acc.kids[i*acc.cols+k], m.kids[k*m.cols+j]))
					}
					prod.kids = append(prod.kids, s)
				}
			}
			acc = prod
		}
		if acc == nil {
			return nil, false
		}
		if len(scale) > 0 {
			out := &node{kind: kMatrix, rows: acc.rows, cols: acc.cols}
			for _, e := range acc.kids {
				out.kids = append(out.kids, op(kMul, append(append([]*node{}, scale...), e)...))
			}
			acc = out
		}
		return acc, true
	}
	return nil, false
}

// maxMatrixEntry bounds the size of one computed matrix entry.
const maxMatrixEntry = 5000

// entrySize is the largest entry size of m, counted up to maxMatrixEntry.
func entrySize(m *node) int {
	best := 0
	for _, e := range m.kids {
		budget := maxMatrixEntry + 1
		countNodes(e, &budget)
		if n := maxMatrixEntry + 1 - budget; n > best {
			best = n
		}
	}
	return best
}

func countNodes(n *node, budget *int) {
	if *budget <= 0 {
		return
	}
	*budget--
	for _, k := range n.kids {
		countNodes(k, budget)
	}
}
