package mathverify

import (
	"math/big"
	"sort"
	"strings"
)

// kind is the type of an expression-tree node.
type kind uint8

const (
	kNum      kind = iota // rat holds the value; dec marks a decimal literal
	kSym                  // name: a variable or named constant (pi, e, i, inf)
	kText                 // name: normalised free text
	kAdd                  // kids summed
	kMul                  // kids multiplied
	kNeg                  // -kids[0]
	kDiv                  // kids[0] / kids[1]
	kPow                  // kids[0] ^ kids[1]
	kFn                   // name(kids...): sqrt, root, sin, log, abs, fact, and unknown f(x)
	kPct                  // kids[0] percent
	kPM                   // kids[0] ± kids[1], or ±kids[0] when len(kids)==1
	kTuple                // ordered (a, b, ...)
	kSet                  // {a, b, ...}
	kList                 // a bare "a, b, c" list (compared unordered)
	kInterval             // name holds the brackets, e.g. "(]"; kids are the two ends
	kUnion                // set union of kids
	kInter                // set intersection of kids
	kRel                  // chain kids[0] ops[0] kids[1] ops[1] ...
	kMatrix               // rows x cols, row-major in kids
	kRatio                // a : b : ...
)

// node is one expression-tree node.
type node struct {
	kind kind
	name string
	rat  *big.Rat
	dec  bool
	kids []*node
	ops  []string // relation operators for kRel
	rows int      // for kMatrix
	cols int
}

func num(r *big.Rat) *node { return &node{kind: kNum, rat: r} }

func intNode(v int64) *node { return num(new(big.Rat).SetInt64(v)) }

func sym(name string) *node { return &node{kind: kSym, name: name} }

func op(k kind, kids ...*node) *node { return &node{kind: k, kids: kids} }

func fn(name string, kids ...*node) *node { return &node{kind: kFn, name: name, kids: kids} }

// isScalar reports whether n denotes a single number-like value (possibly
// symbolic), as opposed to a collection, relation or text.
func (n *node) isScalar() bool {
	switch n.kind {
	case kTuple, kSet, kList, kInterval, kUnion, kInter, kRel, kMatrix, kText, kRatio, kPM:
		return false
	}
	for _, k := range n.kids {
		if !k.isScalar() {
			return false
		}
	}
	return true
}

// contains reports whether any node in the tree satisfies f.
func (n *node) contains(f func(*node) bool) bool {
	if f(n) {
		return true
	}
	for _, k := range n.kids {
		if k.contains(f) {
			return true
		}
	}
	return false
}

// String prints a canonical form: commutative operands are sorted so that
// trivially reordered answers print the same.
func (n *node) String() string {
	var b strings.Builder
	n.write(&b, 0)
	return b.String()
}

func (n *node) write(b *strings.Builder, depth int) {
	if depth > 200 {
		b.WriteString("…")
		return
	}
	kidStrings := func(sorted bool) []string {
		out := make([]string, len(n.kids))
		for i, k := range n.kids {
			var kb strings.Builder
			k.write(&kb, depth+1)
			out[i] = kb.String()
		}
		if sorted {
			sort.Strings(out)
		}
		return out
	}
	switch n.kind {
	case kNum:
		b.WriteString(n.rat.RatString())
	case kSym:
		b.WriteString(n.name)
	case kText:
		b.WriteString(`"` + n.name + `"`)
	case kAdd:
		b.WriteString("(" + strings.Join(kidStrings(true), "+") + ")")
	case kMul:
		b.WriteString("(" + strings.Join(kidStrings(true), "*") + ")")
	case kNeg:
		b.WriteString("-" + kidStrings(false)[0])
	case kDiv:
		k := kidStrings(false)
		b.WriteString("(" + k[0] + "/" + k[1] + ")")
	case kPow:
		k := kidStrings(false)
		b.WriteString("(" + k[0] + "^" + k[1] + ")")
	case kFn:
		b.WriteString(n.name + "(" + strings.Join(kidStrings(false), ",") + ")")
	case kPct:
		b.WriteString(kidStrings(false)[0] + "%")
	case kPM:
		k := kidStrings(false)
		if len(k) == 1 {
			b.WriteString("±" + k[0])
		} else {
			b.WriteString("(" + k[0] + "±" + k[1] + ")")
		}
	case kTuple:
		b.WriteString("tuple(" + strings.Join(kidStrings(false), ",") + ")")
	case kSet, kList:
		b.WriteString("set{" + strings.Join(kidStrings(true), ",") + "}")
	case kInterval:
		k := kidStrings(false)
		b.WriteString(n.name[:1] + k[0] + "," + k[1] + n.name[1:])
	case kUnion:
		b.WriteString("union(" + strings.Join(kidStrings(true), ",") + ")")
	case kInter:
		b.WriteString("inter(" + strings.Join(kidStrings(true), ",") + ")")
	case kRel:
		k := kidStrings(false)
		for i, s := range k {
			if i > 0 {
				b.WriteString(n.ops[i-1])
			}
			b.WriteString(s)
		}
	case kMatrix:
		b.WriteString("matrix(" + strings.Join(kidStrings(false), ",") + ")")
	case kRatio:
		b.WriteString("ratio(" + strings.Join(kidStrings(false), ":") + ")")
	}
}
