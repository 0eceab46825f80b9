//go:build !amd64

package gemm

// archImpls returns no assembly kernels: only amd64 has them so far.
func archImpls() []*impl { return nil }
