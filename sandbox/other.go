//go:build !linux

package sandbox

import (
	"context"
	"fmt"
)

// ChildArg is os.Args[1] of the re-executed sandbox helper (Linux only).
const ChildArg = "__r1_sandbox_child"

// Main does nothing outside Linux.
func Main() {}

// BwrapPath is always "" outside Linux.
func BwrapPath() string { return "" }

func runBwrap(ctx context.Context, spec Spec) (Result, error) {
	return Result{}, fmt.Errorf("%w: bubblewrap needs Linux", ErrUnavailable)
}

func runNamespaces(ctx context.Context, spec Spec) (Result, error) {
	return Result{}, fmt.Errorf("%w: namespaces need Linux", ErrUnavailable)
}

func pickMode(spec Spec) Mode { return Namespaces }

// CgroupMemory is always false outside Linux.
func CgroupMemory() (bool, error) {
	return false, fmt.Errorf("%w: memory cgroups need Linux", ErrUnavailable)
}
