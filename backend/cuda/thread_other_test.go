//go:build !linux

package cuda

// threadID cannot tell threads apart here; the owner test then only checks
// serialization.
func threadID() int { return 0 }
