package mathverify

import (
	"errors"
	"hash/fnv"
	"math"
	"math/big"
	"math/cmplx"
)

// Limits that keep exact arithmetic cheap (each operation well under a
// millisecond) while covering the huge values answers do contain (1000!,
// 3^{5000}): 10^10^10 is refused, not computed. A value beyond them is not
// evaluated exactly, and its floating-point value, which has overflowed or
// underflowed, is "unknown" (never equal to anything).
const (
	maxExpAbs  = 1 << 20 // largest |integer exponent| evaluated exactly (and the size bound below)
	maxRatBits = 1 << 16 // largest numerator/denominator size kept exactly (about 19,700 digits)
	maxFact    = 3000    // largest n! evaluated exactly (3000! has 9,131 digits)
)

var errNotExact = errors.New("not an exact rational")

// evalRat evaluates n exactly when it is built from rationals with + - * /,
// integer powers, percent and factorials, within ratBudget.
func evalRat(n *node) (*big.Rat, error) {
	return (&ratEval{}).eval(n)
}

// ratBudget bounds the big-number work of one evalRat (the sum of the
// result sizes in bits), so that an answer repeating 3000! a thousand times
// is refused, not computed.
const ratBudget = 64 * maxRatBits

// ratEval is one exact evaluation and the work it has done.
type ratEval struct{ spent int64 }

// charge records a result's size and fails once the budget is spent.
func (re *ratEval) charge(r *big.Rat) (*big.Rat, error) {
	re.spent += int64(r.Num().BitLen() + r.Denom().BitLen())
	if re.spent > ratBudget {
		return nil, errNotExact
	}
	return bounded(r)
}

func (re *ratEval) eval(n *node) (*big.Rat, error) {
	switch n.kind {
	case kNum:
		return n.rat, nil
	case kAdd:
		sum := new(big.Rat)
		for _, k := range n.kids {
			v, err := re.eval(k)
			if err != nil {
				return nil, err
			}
			sum.Add(sum, v)
		}
		return re.charge(sum)
	case kMul:
		prod := big.NewRat(1, 1)
		for _, k := range n.kids {
			v, err := re.eval(k)
			if err != nil {
				return nil, err
			}
			prod.Mul(prod, v)
			if _, err := re.charge(prod); err != nil {
				return nil, err
			}
		}
		return prod, nil
	case kNeg:
		v, err := re.eval(n.kids[0])
		if err != nil {
			return nil, err
		}
		return new(big.Rat).Neg(v), nil
	case kDiv:
		a, err := re.eval(n.kids[0])
		if err != nil {
			return nil, err
		}
		b, err := re.eval(n.kids[1])
		if err != nil {
			return nil, err
		}
		if b.Sign() == 0 {
			return nil, errors.New("division by zero")
		}
		return re.charge(new(big.Rat).Quo(a, b))
	case kPct:
		v, err := re.eval(n.kids[0])
		if err != nil {
			return nil, err
		}
		return new(big.Rat).Quo(v, big.NewRat(100, 1)), nil
	case kPow:
		b, err := re.eval(n.kids[0])
		if err != nil {
			return nil, err
		}
		e, err := re.eval(n.kids[1])
		if err != nil {
			return nil, err
		}
		if !e.IsInt() || !e.Num().IsInt64() {
			return nil, errNotExact
		}
		k := e.Num().Int64()
		if k < 0 && b.Sign() == 0 {
			return nil, errors.New("division by zero")
		}
		if b.IsInt() && b.Num().CmpAbs(big.NewInt(1)) <= 0 {
			// 0, 1 and -1 to any integer power.
			switch {
			case k == 0:
				return big.NewRat(1, 1), nil
			case b.Sign() < 0 && k%2 != 0:
				return big.NewRat(-1, 1), nil
			case b.Sign() < 0:
				return big.NewRat(1, 1), nil
			}
			return b, nil
		}
		if k > maxExpAbs || k < -maxExpAbs {
			return nil, errNotExact
		}
		bits := int64(b.Num().BitLen() + b.Denom().BitLen())
		if bits*abs64(k) > 4*maxRatBits {
			return nil, errNotExact
		}
		num := new(big.Int).Exp(b.Num(), big.NewInt(abs64(k)), nil)
		den := new(big.Int).Exp(b.Denom(), big.NewInt(abs64(k)), nil)
		if k < 0 {
			num, den = den, num
		}
		return re.charge(new(big.Rat).SetFrac(num, den))
	case kFn:
		if n.name == "fact" && len(n.kids) == 1 {
			v, err := re.eval(n.kids[0])
			if err != nil {
				return nil, err
			}
			if !v.IsInt() || v.Sign() < 0 || !v.Num().IsInt64() || v.Num().Int64() > maxFact {
				return nil, errNotExact
			}
			r := new(big.Int).MulRange(1, v.Num().Int64())
			return re.charge(new(big.Rat).SetInt(r))
		}
		if n.name == "abs" && len(n.kids) == 1 {
			v, err := re.eval(n.kids[0])
			if err != nil {
				return nil, err
			}
			return new(big.Rat).Abs(v), nil
		}
	}
	return nil, errNotExact
}

func abs64(k int64) int64 {
	if k < 0 {
		return -k
	}
	return k
}

func bounded(r *big.Rat) (*big.Rat, error) {
	if r.Num().BitLen() > maxRatBits || r.Denom().BitLen() > maxRatBits {
		return nil, errNotExact
	}
	return r, nil
}

// hasDecimal reports whether a decimal literal occurs in n: such answers
// are rounded, so they are compared with a tolerance.
func hasDecimal(n *node) bool {
	return n.contains(func(m *node) bool { return m.kind == kNum && m.dec })
}

var errEval = errors.New("cannot evaluate")

// evaluator computes complex values of scalar trees with free variables
// bound by env. steps bounds the work per call.
type evaluator struct {
	env   map[string]complex128
	steps int
	// lossy is set when a value overflowed to ±Inf, underflowed to 0 or
	// became NaN from finite operands: the result is then unknown, never
	// evidence of equality.
	lossy bool
}

// checked returns v, noting when finite non-zero operands gave a value
// that is not finite (overflow, a pole) or, for products, quotients and
// powers, exactly zero (underflow).
func (ev *evaluator) checked(v complex128, zeroIsLoss bool, operands ...complex128) complex128 {
	for _, o := range operands {
		if !finite(o) {
			return v // infinity in, infinity out: not a loss
		}
	}
	if !finite(v) {
		ev.lossy = true
	} else if zeroIsLoss && v == 0 {
		for _, o := range operands {
			if o == 0 {
				return v
			}
		}
		ev.lossy = true
	}
	return v
}

func (ev *evaluator) eval(n *node) (complex128, error) {
	ev.steps++
	if ev.steps > 100000 {
		return 0, errEval
	}
	switch n.kind {
	case kNum:
		f, _ := n.rat.Float64()
		if math.IsInf(f, 0) || (f == 0 && n.rat.Sign() != 0) {
			ev.lossy = true // too large or too small for float64
		}
		return complex(f, 0), nil
	case kSym:
		if v, ok := ev.env[n.name]; ok {
			return v, nil
		}
		switch n.name {
		case "pi":
			return math.Pi, nil
		case "e":
			return math.E, nil
		case "i":
			return 1i, nil
		case "inf":
			return complex(math.Inf(1), 0), nil
		}
		return 0, errEval
	case kAdd:
		var s complex128
		for _, k := range n.kids {
			v, err := ev.eval(k)
			if err != nil {
				return 0, err
			}
			s += v
		}
		return s, nil
	case kMul:
		p := complex(1, 0)
		for _, k := range n.kids {
			v, err := ev.eval(k)
			if err != nil {
				return 0, err
			}
			p = ev.checked(cmul(p, v), true, p, v)
		}
		return p, nil
	case kNeg:
		v, err := ev.eval(n.kids[0])
		return -v, err
	case kDiv:
		a, err := ev.eval(n.kids[0])
		if err != nil {
			return 0, err
		}
		b, err := ev.eval(n.kids[1])
		if err != nil {
			return 0, err
		}
		if b == 0 {
			return 0, errEval
		}
		if imag(a) == 0 && imag(b) == 0 {
			return ev.checked(complex(real(a)/real(b), 0), true, a, b), nil
		}
		return ev.checked(a/b, true, a, b), nil
	case kPct:
		v, err := ev.eval(n.kids[0])
		return v / 100, err
	case kPow:
		b, err := ev.eval(n.kids[0])
		if err != nil {
			return 0, err
		}
		e, err := ev.eval(n.kids[1])
		if err != nil {
			return 0, err
		}
		// x^{2/3} of a negative x is the real cube root squared, matching
		// \sqrt[3]{x}^2, rather than the principal complex value.
		if imag(b) == 0 && real(b) < 0 && imag(e) == 0 && e != complex(math.Trunc(real(e)), 0) {
			if r, err := evalRat(n.kids[1]); err == nil && r.Denom().Bit(0) == 1 && r.Denom().IsInt64() && r.Denom().Int64() < 1000 {
				v := math.Pow(-real(b), real(e))
				if r.Num().Bit(0) == 1 {
					v = -v
				}
				return ev.checked(complex(v, 0), true, b, e), nil
			}
		}
		return ev.checked(cpow(b, e), true, b, e), nil
	case kFn:
		return ev.evalFn(n)
	}
	return 0, errEval
}

// cmul multiplies, keeping real products real (0*Inf stays NaN only when
// it really is).
func cmul(a, b complex128) complex128 {
	if imag(a) == 0 && imag(b) == 0 {
		return complex(real(a)*real(b), 0)
	}
	return a * b
}

func cpow(b, e complex128) complex128 {
	if imag(b) == 0 && imag(e) == 0 {
		br, er := real(b), real(e)
		if br >= 0 || er == math.Trunc(er) {
			return complex(math.Pow(br, er), 0)
		}
	}
	if b == 0 {
		if real(e) > 0 {
			return 0
		}
		return complex(math.Inf(1), 0)
	}
	return cmplx.Pow(b, e)
}

func (ev *evaluator) evalFn(n *node) (complex128, error) {
	args := make([]complex128, len(n.kids))
	v, err := ev.evalFnValue(n, args)
	if err != nil {
		return 0, err
	}
	return ev.checked(v, false, args...), nil
}

// evalFnValue evaluates n's arguments into args and applies the function.
func (ev *evaluator) evalFnValue(n *node, args []complex128) (complex128, error) {
	for i, k := range n.kids {
		v, err := ev.eval(k)
		if err != nil {
			return 0, err
		}
		args[i] = v
	}
	real1 := func() (float64, bool) {
		if len(args) != 1 || imag(args[0]) != 0 {
			return 0, false
		}
		return real(args[0]), true
	}
	if len(args) == 0 {
		return 0, errEval
	}
	x := args[0]
	switch n.name {
	case "sqrt":
		if r, ok := real1(); ok && r >= 0 {
			return complex(math.Sqrt(r), 0), nil
		}
		return cmplx.Sqrt(x), nil
	case "root":
		if len(args) != 2 {
			return 0, errEval
		}
		k := args[1]
		if imag(x) == 0 && imag(k) == 0 && real(x) < 0 && math.Mod(real(k), 2) == 1 {
			return complex(-math.Pow(-real(x), 1/real(k)), 0), nil
		}
		return cpow(x, 1/k), nil
	case "sin":
		return cmplx.Sin(x), nil
	case "cos":
		return cmplx.Cos(x), nil
	case "tan":
		return cmplx.Tan(x), nil
	case "sec":
		return 1 / cmplx.Cos(x), nil
	case "csc":
		return 1 / cmplx.Sin(x), nil
	case "cot":
		return 1 / cmplx.Tan(x), nil
	case "arcsin":
		return cmplx.Asin(x), nil
	case "arccos":
		return cmplx.Acos(x), nil
	case "arctan":
		return cmplx.Atan(x), nil
	case "arccot":
		return cmplx.Atan(1 / x), nil
	case "sinh":
		return cmplx.Sinh(x), nil
	case "cosh":
		return cmplx.Cosh(x), nil
	case "tanh":
		return cmplx.Tanh(x), nil
	case "exp":
		return cmplx.Exp(x), nil
	case "ln", "log":
		if x == 0 {
			return 0, errEval
		}
		v := cmplx.Log(x)
		if r, ok := real1(); ok && r > 0 {
			v = complex(math.Log(r), 0)
		}
		if len(args) == 2 {
			return v / cmplx.Log(args[1]), nil
		}
		return v, nil
	case "lg":
		return cmplx.Log10(x), nil
	case "abs":
		return complex(cmplx.Abs(x), 0), nil
	case "fact":
		if r, ok := real1(); ok {
			return complex(math.Gamma(r+1), 0), nil
		}
	case "binom":
		if len(args) == 2 && imag(args[0]) == 0 && imag(args[1]) == 0 {
			a, b := real(args[0]), real(args[1])
			return complex(math.Gamma(a+1)/(math.Gamma(b+1)*math.Gamma(a-b+1)), 0), nil
		}
	case "floor":
		if r, ok := real1(); ok {
			return complex(math.Floor(r), 0), nil
		}
	case "ceil":
		if r, ok := real1(); ok {
			return complex(math.Ceil(r), 0), nil
		}
	case "max", "min":
		best := math.NaN()
		for _, a := range args {
			if imag(a) != 0 {
				return 0, errEval
			}
			if math.IsNaN(best) || (n.name == "max") == (real(a) > best) {
				best = real(a)
			}
		}
		return complex(best, 0), nil
	default:
		if len(n.name) > 5 && n.name[:5] == "call_" {
			// An unknown function f(x): give it a fixed, arbitrary smooth
			// value so that f(2) equals f(2) and differs from f(3).
			h := fnv.New64a()
			h.Write([]byte(n.name))
			s := float64(h.Sum64()%1000)/1000 + 0.5
			var acc complex128
			for i, a := range args {
				acc += cmplx.Sin(complex(s*float64(i+1), 0)*a + complex(s, 0))
			}
			return acc + complex(s, 0), nil
		}
	}
	return 0, errEval
}

// freeSyms collects variable names in n (constants excluded).
func freeSyms(n *node, into map[string]bool) {
	if n.kind == kSym {
		switch n.name {
		case "pi", "e", "i", "inf", "…":
		default:
			into[n.name] = true
		}
	}
	for _, k := range n.kids {
		freeSyms(k, into)
	}
}
