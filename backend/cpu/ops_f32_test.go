package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/r1go/r1/tensor"
)

// The float32 kernels (vector math) must agree with the generic float64
// kernels, which the autograd tests check against finite differences.
// Tolerances are relative to max(1, |f64 value|) unless stated.

// f32f64 runs fn once with F32 and once with F64 tensors built from the
// same float32 inputs and returns both sets of outputs.
func f32f64(fn func(up func([]float32, ...int) *tensor.Tensor, dt tensor.DType) []*tensor.Tensor) (got, want [][]float32) {
	be := New()
	for _, dt := range []tensor.DType{tensor.F32, tensor.F64} {
		up := func(x []float32, shape ...int) *tensor.Tensor { return be.Upload(x, dt, shape...) }
		var outs [][]float32
		for _, o := range fn(up, dt) {
			outs = append(outs, be.Download(o))
		}
		if dt == tensor.F32 {
			got = outs
		} else {
			want = outs
		}
	}
	return got, want
}

func compareOutputs(t *testing.T, names []string, got, want [][]float32, tol float64) {
	t.Helper()
	for n, name := range names {
		for i := range want[n] {
			g, w := float64(got[n][i]), float64(want[n][i])
			if math.Abs(g-w) > tol*math.Max(1, math.Abs(w)) || math.IsNaN(g) != math.IsNaN(w) {
				t.Fatalf("%s[%d]: f32 %v, f64 %v (tolerance %g)", name, i, g, w, tol)
			}
		}
	}
}

func TestSwiGLUF32MatchesF64(t *testing.T) {
	be := New()
	rng := rand.New(rand.NewPCG(21, 22))
	forEachLevel(t, func(t *testing.T) {
		for _, shape := range [][]int{{3, 5}, {4, 37}, {64, 688}} {
			n := shape[0] * shape[1]
			g, u, d := randSlice(rng, n, 3), randSlice(rng, n, 1), randSlice(rng, n, 1)
			got, want := f32f64(func(up func([]float32, ...int) *tensor.Tensor, dt tensor.DType) []*tensor.Tensor {
				gt, ut, dout := up(g, shape...), up(u, shape...), up(d, shape...)
				out, dg, du := be.New(dt, shape...), be.New(dt, shape...), be.New(dt, shape...)
				be.SwiGLU(out, gt, ut)
				be.SwiGLUBackward(dg, du, dout, gt, ut)
				return []*tensor.Tensor{out, dg, du}
			})
			compareOutputs(t, []string{"out", "dgate", "dup"}, got, want, 2e-6)
		}
	})
}

func TestRMSNormF32MatchesF64(t *testing.T) {
	be := New()
	rng := rand.New(rand.NewPCG(23, 24))
	forEachLevel(t, func(t *testing.T) {
		for _, shape := range [][]int{{3, 5}, {7, 33}, {200, 256}} {
			n, c := shape[0]*shape[1], shape[1]
			x, w, dy := randSlice(rng, n, 2), randSlice(rng, c, 1), randSlice(rng, n, 1)
			dw0 := randSlice(rng, c, 1)
			got, want := f32f64(func(up func([]float32, ...int) *tensor.Tensor, dt tensor.DType) []*tensor.Tensor {
				xt, wt := up(x, shape...), up(w, c)
				out, rstd := be.New(dt, shape...), be.New(dt, shape[0])
				be.RMSNorm(out, rstd, xt, wt, 1e-5)
				dx, dw := be.New(dt, shape...), up(dw0, c)
				be.RMSNormBackward(dx, dw, up(dy, shape...), xt, wt, rstd)
				return []*tensor.Tensor{out, rstd, dx, dw}
			})
			// dw sums over up to 200 rows: its rounding grows with them.
			compareOutputs(t, []string{"out", "rstd", "dx"}, got[:3], want[:3], 2e-6)
			compareOutputs(t, []string{"dw"}, got[3:], want[3:], 2e-5)
		}
	})
}

func TestLogSoftmaxGatherF32MatchesF64(t *testing.T) {
	be := New()
	rng := rand.New(rand.NewPCG(25, 26))
	forEachLevel(t, func(t *testing.T) {
		for _, c := range []struct{ n, v int }{{3, 7}, {5, 100}, {4, 3000}} {
			z := randSlice(rng, c.n*c.v, 4)
			tg := make([]int32, c.n)
			for i := range tg {
				tg[i] = int32(rng.IntN(c.v))
			}
			tg[1] = -1                       // an ignored position
			z[c.v+2] = float32(math.Inf(-1)) // a banned token
			dlp, dent := randSlice(rng, c.n, 1), randSlice(rng, c.n, 1)
			for _, withEnt := range []bool{false, true} {
				t.Run(fmt.Sprint(c, withEnt), func(t *testing.T) {
					got, want := f32f64(func(up func([]float32, ...int) *tensor.Tensor, dt tensor.DType) []*tensor.Tensor {
						logits := up(z, c.n, c.v)
						target := be.UploadInt32(tg, c.n)
						lp, lse, ent := be.New(dt, c.n), be.New(dt, c.n), be.New(dt, c.n)
						be.LogSoftmaxGather(lp, lse, ent, logits, target)
						var dentT *tensor.Tensor
						if withEnt {
							dentT = up(dent, c.n)
						}
						be.LogSoftmaxGatherBackward(logits, lse, target, up(dlp, c.n), dentT)
						return []*tensor.Tensor{lp, lse, ent, logits}
					})
					compareOutputs(t, []string{"logp", "lse", "entropy", "dlogits"}, got, want, 3e-6)
					// The banned token has probability 0: it changes no
					// output and gets no gradient (0·−Inf must not leak NaN).
					for k, outs := range [][][]float32{got, want} {
						for i, o := range outs {
							for j, x := range o {
								if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
									t.Fatalf("run %d output %d[%d] = %v", k, i, j, x)
								}
							}
						}
						if g := outs[3][c.v+2]; g != 0 {
							t.Fatalf("run %d: gradient %v at the banned token", k, g)
						}
					}
				})
			}
		}
	})
}

func TestElementwiseF32MatchesF64(t *testing.T) {
	be := New()
	rng := rand.New(rand.NewPCG(27, 28))
	forEachLevel(t, func(t *testing.T) {
		for _, n := range []int{1, 13, 100, 70000} {
			a, b, y := randSlice(rng, n, 1), randSlice(rng, n, 1), randSlice(rng, n, 1)
			var sq [2]float64
			got, want := f32f64(func(up func([]float32, ...int) *tensor.Tensor, dt tensor.DType) []*tensor.Tensor {
				at, bt, yt, out, prod := up(a, n), up(b, n), up(y, n), be.New(dt, n), be.New(dt, n)
				be.Add(out, at, bt)
				be.Mul(prod, at, bt)
				be.Axpy(yt, -0.7, at)
				be.Scale(bt, 1.3)
				if dt == tensor.F32 {
					sq[0] = be.SumSquares(at)
				} else {
					sq[1] = be.SumSquares(at)
				}
				return []*tensor.Tensor{out, yt, bt, prod}
			})
			compareOutputs(t, []string{"add", "axpy", "scale", "mul"}, got, want, 3e-7)
			if math.Abs(sq[0]-sq[1]) > 1e-6*sq[1] {
				t.Fatalf("n=%d: SumSquares f32 %v, f64 %v", n, sq[0], sq[1])
			}
		}
	})
}

// Mismatched operands are reported by a panic that names the op, never by
// a stray index error inside a worker goroutine (which would kill the
// process).
func TestSwiGLUShapeMismatch(t *testing.T) {
	be := New()
	for _, dt := range []tensor.DType{tensor.F32, tensor.F64} {
		a, b := be.New(dt, 4, 8), be.New(dt, 4, 7)
		for name, call := range map[string]func(){
			"SwiGLU":         func() { be.SwiGLU(a, a, b) },
			"SwiGLUBackward": func() { be.SwiGLUBackward(a, a, a, b, a) },
		} {
			func() {
				defer func() {
					msg, _ := recover().(string)
					if msg == "" || !strings.Contains(msg, name) {
						t.Errorf("%v %s: panic %q, want one naming the op", dt, name, msg)
					}
				}()
				call()
			}()
		}
	}
}

// SumSquares splits its blocks between the cores but adds them in block
// order: the same float64 as the serial loop, bit for bit, at every level.
func TestSumSquaresSplitIsSerial(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	be := New()
	rng := rand.New(rand.NewPCG(29, 30))
	forEachLevel(t, func(t *testing.T) {
		for _, n := range []int{64 * lseBlock, 1<<20 + 77} {
			x := randSlice(rng, n, 1)
			var want, exact float64
			for lo := 0; lo < n; lo += lseBlock {
				want += float64(sumSqF32(x[lo:min(lo+lseBlock, n)]))
			}
			for _, v := range x {
				exact += float64(v) * float64(v)
			}
			got := be.SumSquares(be.Upload(x, tensor.F32, n))
			if got != want || math.Abs(got-exact) > 1e-6*exact {
				t.Fatalf("n=%d: SumSquares %v, serial block sum %v, float64 %v", n, got, want, exact)
			}
		}
	})
}

// AddBias and SumRowsAcc in float32 are the float32 sums, bit for bit, in
// row order: out[r][j] + bias[j], and dbias[j] accumulated over the rows
// one after another — at every SIMD level, for rows that split across the
// cores and widths that leave a vector tail.
func TestBiasF32(t *testing.T) {
	be := New()
	rng := rand.New(rand.NewPCG(23, 24))
	forEachLevel(t, func(t *testing.T) {
		for _, shape := range [][]int{{3, 5}, {7, 37}, {1500, 64}, {600, 129}} {
			n, c := shape[0], shape[1]
			x, b := randSlice(rng, n*c, 3), randSlice(rng, c, 1)
			db0 := randSlice(rng, c, 1)
			out, bias, db := be.Upload(x, tensor.F32, n, c), be.Upload(b, tensor.F32, c), be.Upload(db0, tensor.F32, c)
			be.AddBias(out, bias)
			be.SumRowsAcc(db, be.Upload(x, tensor.F32, n, c))
			got, gotDB := f32(out), f32(db)
			want := append([]float32(nil), db0...)
			for r := range n {
				for j := range c {
					if w := x[r*c+j] + b[j]; got[r*c+j] != w {
						t.Fatalf("%v AddBias [%d][%d] = %v, want %v", shape, r, j, got[r*c+j], w)
					}
					want[j] += x[r*c+j]
				}
			}
			for j := range c {
				if gotDB[j] != want[j] {
					t.Fatalf("%v SumRowsAcc [%d] = %v, want %v", shape, j, gotDB[j], want[j])
				}
			}
		}
	})
}
