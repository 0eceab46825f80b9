package data

import (
	"fmt"
	"math/big"
	"slices"
	"strconv"
)

// CheckEquation verifies a Countdown equation: it parses (integers, + - * /
// and parentheses), uses exactly the multiset nums, and equals target in
// exact rational arithmetic. The error says what is wrong.
func CheckEquation(expr string, nums []int, target int) error {
	p := &exprParser{s: expr}
	v, err := p.parse()
	if err != nil {
		return err
	}
	got, want := slices.Clone(p.nums), slices.Clone(nums)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("equation %q uses %v, want each of %v once", expr, got, want)
	}
	if v.Cmp(new(big.Rat).SetInt64(int64(target))) != 0 {
		return fmt.Errorf("equation %q equals %s, want %d", expr, v.RatString(), target)
	}
	return nil
}

// exprParser is a recursive-descent parser over exact rationals.
type exprParser struct {
	s    string
	i    int
	nums []int
	// parens counts '(' seen, bounding recursion on hostile input.
	parens int
}

func (p *exprParser) parse() (*big.Rat, error) {
	v, err := p.sum()
	if err != nil {
		return nil, err
	}
	if p.skip(); p.i < len(p.s) {
		return nil, fmt.Errorf("equation %q: unexpected %q at offset %d", p.s, p.s[p.i], p.i)
	}
	return v, nil
}

func (p *exprParser) skip() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *exprParser) sum() (*big.Rat, error) {
	v, err := p.product()
	for err == nil {
		p.skip()
		if p.i >= len(p.s) || (p.s[p.i] != '+' && p.s[p.i] != '-') {
			break
		}
		op := p.s[p.i]
		p.i++
		var w *big.Rat
		if w, err = p.product(); err == nil {
			if op == '+' {
				v.Add(v, w)
			} else {
				v.Sub(v, w)
			}
		}
	}
	return v, err
}

func (p *exprParser) product() (*big.Rat, error) {
	v, err := p.atom()
	for err == nil {
		p.skip()
		if p.i >= len(p.s) || (p.s[p.i] != '*' && p.s[p.i] != '/') {
			break
		}
		op := p.s[p.i]
		p.i++
		var w *big.Rat
		if w, err = p.atom(); err == nil {
			if op == '*' {
				v.Mul(v, w)
			} else if w.Sign() == 0 {
				err = fmt.Errorf("equation %q divides by zero", p.s)
			} else {
				v.Quo(v, w)
			}
		}
	}
	return v, err
}

func (p *exprParser) atom() (*big.Rat, error) {
	p.skip()
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("equation %q ends early", p.s)
	}
	if p.s[p.i] == '(' {
		if p.parens++; p.parens > 50 {
			return nil, fmt.Errorf("equation %q nests too deeply", p.s)
		}
		p.i++
		v, err := p.sum()
		if err != nil {
			return nil, err
		}
		if p.skip(); p.i >= len(p.s) || p.s[p.i] != ')' {
			return nil, fmt.Errorf("equation %q: missing ')'", p.s)
		}
		p.i++
		return v, nil
	}
	j := p.i
	for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	if j == p.i || j-p.i > 9 {
		return nil, fmt.Errorf("equation %q: want a number or '(' at offset %d", p.s, p.i)
	}
	n, _ := strconv.Atoi(p.s[p.i:j])
	p.i = j
	p.nums = append(p.nums, n)
	return new(big.Rat).SetInt64(int64(n)), nil
}
