//go:build !amd64

package cpu

// pvAccSIMD: no vector kernel off amd64.
func pvAccSIMD(out, p, v []float32, stride int) bool { return false }
