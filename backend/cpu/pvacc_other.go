//go:build !amd64

package cpu

// pvAcc adds Σ_j p[j]·v[j·stride:][:len(out)] to out, j in order.
func pvAcc(out, p, v []float32, stride int) {
	if len(p) > 0 && (stride < len(out) || len(v) < (len(p)-1)*stride+len(out)) {
		panic("cpu: pvAcc: value rows out of range")
	}
	pvAccGo(out, p, v, stride)
}
