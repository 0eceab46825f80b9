//go:build !amd64 && !arm64

package gemm

// archImpls returns no assembly kernels: only amd64 and arm64 have them.
func archImpls() []*impl { return nil }
