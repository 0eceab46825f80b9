//go:build !amd64

package cpu

// Only the pure-Go level exists off amd64; simd is a variable to match the
// amd64 file, which the tests rely on.
const simdGo = 0

var simd = simdGo

func expSubSum(dst, src []float32, m float32) float32     { return expSubSumGo(dst, src, m) }
func expSumDot(src []float32, m float32) (s, sz float32)  { return expSumDotGo(src, m) }
func maxF32(x []float32) float32                          { return maxGo(x) }
func swigluF32(o, g, u []float32)                         { swigluGo(o, g, u) }
func swigluBackwardF32(dg, du, d, g, u []float32)         { swigluBackwardGo(dg, du, d, g, u) }
func lsmBackwardF32(row []float32, l, ng, nge, h float32) { lsmBackwardGo(row, l, ng, nge, h) }
func scaleF32(x []float32, s float32)                     { scaleGo(x, s) }
func axpyF32(y []float32, a float32, x []float32)         { axpyGo(y, a, x) }
func addF32(o, a, b []float32)                            { addGo(o, a, b) }

func adamwF32(p, g, m, v []float32, c *adamConsts)            { adamwGo(p, g, m, v, c) }
func dsRowF32(dp, p []float32, delta, scale float32)          { dsRowGo(dp, p, delta, scale) }
func sumSqF32(x []float32) float32                            { return sumSqGo(x) }
func mulScaleF32(o, x, w []float32, r float32)                { mulScaleGo(o, x, w, r) }
func rmsBwdDotF32(acc, dy, x, w []float32, r float32) float32 { return rmsBwdDotGo(acc, dy, x, w, r) }
func rmsBwdDxF32(dx, dy, x, w []float32, r, dot float32)      { rmsBwdDxGo(dx, dy, x, w, r, dot) }
