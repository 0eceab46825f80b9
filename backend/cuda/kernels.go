package cuda

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

// The CUDA C kernels of every tensor.Backend op except the GEMMs (those are
// cuBLASLt). They are compiled by NVRTC at run time, so they use no
// #include at all: bf16 is stored as unsigned short and converted by
// common.cu's own functions, and every kernel is extern "C" so that its
// symbol is the name in kernelTable.
//
// Status: none of these kernels has run on a GPU yet. What is checked
// without one: TestKernelsCompile compiles them for sm_80 with clang (a
// stand-in for NVRTC) and checks kernelTable against the PTX entry points;
// TestKernelMathHost runs common.cu's scalar math (bf16 conversion, SwiGLU,
// AdamW, RoPE, RMSNorm, online log-sum-exp/entropy) on the host against
// tensor/dtype.go and backend/cpu; TestKernelsEmulated runs every kernel
// on a host emulator (one OS thread per CUDA thread) against backend/cpu
// and sample.Pick. Performance is unmeasured: attention runs on CUDA cores
// (no tensor-core MMA), sampling does ~100 block reductions per row.
//
//go:embed kernels/*.cu
var kernelFS embed.FS

// kernelCommon is the file of helpers that every other file uses; it must
// come first in the program.
const kernelCommon = "common.cu"

// kernelFile is one embedded .cu file.
type kernelFile struct {
	Name   string // e.g. "attention.cu"
	Source string
}

// kernelFiles returns the embedded sources, common.cu first and then the
// others by name: the order in which kernelSource concatenates them.
func kernelFiles() []kernelFile {
	entries, err := kernelFS.ReadDir("kernels")
	if err != nil { // the embed pattern guarantees the directory
		panic(fmt.Sprintf("cuda: embedded kernels/ unreadable: %v", err))
	}
	var files []kernelFile
	for _, e := range entries {
		b, err := kernelFS.ReadFile("kernels/" + e.Name())
		if err != nil {
			panic(fmt.Sprintf("cuda: embedded kernels/%s unreadable: %v", e.Name(), err))
		}
		files = append(files, kernelFile{Name: e.Name(), Source: string(b)})
	}
	sort.Slice(files, func(i, j int) bool {
		if (files[i].Name == kernelCommon) != (files[j].Name == kernelCommon) {
			return files[i].Name == kernelCommon
		}
		return files[i].Name < files[j].Name
	})
	return files
}

// kernelSource is the whole program handed to NVRTC: every file, common.cu
// first, each introduced by a #line directive so that compiler messages
// name the .cu file and line rather than an offset in the concatenation.
func kernelSource() string {
	var b strings.Builder
	for _, f := range kernelFiles() {
		fmt.Fprintf(&b, "#line 1 \"%s\"\n%s\n", f.Name, f.Source)
	}
	return b.String()
}

// kernelArgType is the C type of a kernel parameter, named by the Go value
// that (*device).Launch marshals for it.
type kernelArgType uint8

const (
	argPtrBF16 kernelArgType = iota // bf16* (unsigned short*): DevicePtr
	argPtrF32                       // float*: DevicePtr
	argPtrF64                       // double*: DevicePtr
	argPtrI32                       // int*: DevicePtr; may be 0 where the table says "nullable"
	argI32                          // int: int32
	argI64                          // long long: int64
	argF32                          // float: float32
)

// String is the C spelling.
func (t kernelArgType) String() string {
	switch t {
	case argPtrBF16:
		return "bf16*"
	case argPtrF32:
		return "float*"
	case argPtrF64:
		return "double*"
	case argPtrI32:
		return "int*"
	case argI32:
		return "int"
	case argI64:
		return "long long"
	case argF32:
		return "float"
	}
	return fmt.Sprintf("KernelArgType(%d)", uint8(t))
}

// ptxType is how the type appears in a PTX .entry parameter list (what
// TestKernelsCompile checks the table against).
func (t kernelArgType) ptxType() string {
	switch t {
	case argPtrBF16, argPtrF32, argPtrF64, argPtrI32, argI64:
		return ".u64"
	case argI32:
		return ".u32"
	case argF32:
		return ".f32"
	}
	return "?"
}

// kernelArg is one parameter: its name in the .cu file and its type.
type kernelArg struct {
	Name string
	Type kernelArgType
}

// kernelSpec documents one kernel: what (*device).Launch needs to call it.
type kernelSpec struct {
	Name   string      // extern "C" symbol
	File   string      // defining file under kernels/
	Args   []kernelArg // in order
	Launch string      // which Launch* helper gives grid and block, with its arguments
	Notes  string      // shapes, aliasing, nullable pointers, limits
}

// Launch rules in the kernel table.
const (
	ruleFlat    = "launchFlat(n)"
	ruleReduce  = "launchReduce(n): grid.x partials"
	ruleRows    = "launchRows(rows, 256)"
	ruleRowsLSM = "launchRows(N, 512)"
	ruleColumns = "launchColumns(C)"
	ruleQuery   = "launchAttention(B, T, Hq)"
	ruleKeys    = "launchAttention(B, T, Hkv)"
	ruleWarps   = "launchWarpRows(B·T·Hq)"
	rulePaged   = "launchPaged(N, Hkv)"
)

func args(pairs ...any) []kernelArg {
	out := make([]kernelArg, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, kernelArg{Name: pairs[i].(string), Type: pairs[i+1].(kernelArgType)})
	}
	return out
}

// flatSpec is a table row of a grid-stride kernel.
func flatSpec(name, file, notes string, a []kernelArg) kernelSpec {
	return kernelSpec{Name: name, File: file, Args: a, Launch: ruleFlat, Notes: notes}
}

// kernelTable lists every kernel of the embedded sources. Shapes use the
// llm.c notation of tensor.Backend; "(acc)" marks += outputs. Pointers
// marked nullable may be 0. Kernels that find bad indices (ids, targets,
// positions, slots) cannot panic: they skip the element and store 1 into
// err, which the caller zeroes before and checks after the launch.
var kernelTable = buildKernelTable()

func buildKernelTable() []kernelSpec {
	const (
		pb, pf, pd, pi = argPtrBF16, argPtrF32, argPtrF64, argPtrI32
		i32, i64, f32  = argI32, argI64, argF32
	)
	ptr := map[string]kernelArgType{"f32": pf, "bf16": pb}
	var t []kernelSpec
	ew := "elementwise.cu"
	for _, c := range [][2]string{{"f32", "bf16"}, {"bf16", "f32"}} {
		t = append(t, flatSpec("r1_convert_"+c[0]+"_"+c[1], ew, "Copy: dst ("+c[1]+") = src ("+c[0]+"), RNE to bf16", args("dst", ptr[c[1]], "src", ptr[c[0]], "n", i64)))
	}
	for _, d := range []string{"f32", "bf16"} {
		t = append(t,
			flatSpec("r1_fill_"+d, ew, "Fill t = v", args("t", ptr[d], "v", f32, "n", i64)),
			flatSpec("r1_scale_"+d, ew, "Scale t *= s", args("t", ptr[d], "s", f32, "n", i64)),
			flatSpec("r1_add_"+d, ew, "Add out = a + b; out may alias a or b", args("out", ptr[d], "a", ptr[d], "b", ptr[d], "n", i64)),
			flatSpec("r1_mul_"+d, ew, "Mul out = a ⊙ b; out may alias a or b", args("out", ptr[d], "a", ptr[d], "b", ptr[d], "n", i64)),
			kernelSpec{Name: "r1_sumsq_" + d, File: ew, Launch: ruleReduce,
				Notes: "SumSquares: partial[blockIdx.x] = Σ t² of the block's elements in f64; the host sums grid.x partials",
				Args:  args("partial", pd, "t", ptr[d], "n", i64)},
			flatSpec("r1_nonfinite_"+d, ew, "AllFinite: *flag = 1 if any NaN/Inf; zero flag first", args("flag", pi, "t", ptr[d], "n", i64)),
		)
	}
	t = append(t, flatSpec("r1_fill_i32", ew, "Fill an I32 tensor with int32(v)", args("t", pi, "v", f32, "n", i64)))
	for _, c := range [][2]string{{"f32", "f32"}, {"f32", "bf16"}, {"bf16", "bf16"}} {
		t = append(t, flatSpec("r1_axpy_"+c[0]+"_"+c[1], ew, "Axpy y ("+c[0]+") += a·x ("+c[1]+")", args("y", ptr[c[0]], "a", f32, "x", ptr[c[1]], "n", i64)))
	}
	for _, c := range [][2]string{{"bf16", "bf16"}, {"bf16", "f32"}, {"f32", "f32"}} {
		t = append(t, flatSpec("r1_add_bias_"+c[0]+"_"+c[1], ew, "AddBias out (N,C) "+c[0]+" += bias (C) "+c[1]+"; n = N·C",
			args("out", ptr[c[0]], "bias", ptr[c[1]], "n", i64, "c", i32)))
	}
	for _, s := range []string{"bf16", "f32"} {
		t = append(t, kernelSpec{Name: "r1_sum_rows_acc_f32_" + s, File: ew, Launch: ruleColumns,
			Notes: "SumRowsAcc dbias (C) f32 (acc) += Σ_n dout (N,C) " + s,
			Args:  args("dbias", pf, "dout", ptr[s], "n", i32, "c", i32)})
	}
	t = append(t,
		kernelSpec{Name: "r1_rmsnorm_fwd", File: "rmsnorm.cu", Launch: "launchRows(N, 256)",
			Notes: "out (N,C), rstd (N) f32, x (N,C), w (C)",
			Args:  args("out", pb, "rstd", pf, "x", pb, "w", pb, "c", i32, "eps", f32)},
		kernelSpec{Name: "r1_rmsnorm_bwd_dx", File: "rmsnorm.cu", Launch: "launchRows(N, 256)",
			Notes: "dx (N,C) overwritten; then r1_rmsnorm_bwd_dw for dw",
			Args:  args("dx", pb, "dout", pb, "x", pb, "w", pb, "rstd", pf, "c", i32)},
		kernelSpec{Name: "r1_rmsnorm_bwd_dw", File: "rmsnorm.cu", Launch: ruleColumns,
			Notes: "dw (C) f32 (acc) += Σ_n dout·x·rstd",
			Args:  args("dw", pf, "dout", pb, "x", pb, "rstd", pf, "n", i32, "c", i32)},
		kernelSpec{Name: "r1_swiglu_fwd", File: "swiglu.cu", Launch: ruleFlat,
			Notes: "out = silu(gate)·up, all (N,F); n = N·F",
			Args:  args("out", pb, "gate", pb, "up", pb, "n", i64)},
		kernelSpec{Name: "r1_swiglu_bwd", File: "swiglu.cu", Launch: ruleFlat,
			Notes: "dgate, dup overwritten",
			Args:  args("dgate", pb, "dup", pb, "dout", pb, "gate", pb, "up", pb, "n", i64)},
		kernelSpec{Name: "r1_rope", File: "rope.cu", Launch: "launchFlat(B·T·H·D/2)",
			Notes: "x (B,T,H,D) in place; cos, sin (P,D/2) f32; pos (B·T); inverse 0/1; err nullable; bt = B·T",
			Args: args("x", pb, "cosv", pf, "sinv", pf, "pos", pi, "err", pi, "bt", i64, "h", i32, "d", i32,
				"p", i32, "inverse", i32)},
		kernelSpec{Name: "r1_embedding_fwd", File: "embedding.cu", Launch: "launchRows(N, 256)",
			Notes: "out (N,C) = table (V,C)[ids (N)]; bad id: zero row, *err = 1; err nullable",
			Args:  args("out", pb, "table", pb, "ids", pi, "err", pi, "c", i32, "v", i32)},
		kernelSpec{Name: "r1_embedding_bwd", File: "embedding.cu", Launch: "launchRows(N, 256)",
			Notes: "dtable (V,C) f32 (acc) += dout (N,C) by ids, atomicAdd (not bit-reproducible)",
			Args:  args("dtable", pf, "dout", pb, "ids", pi, "err", pi, "c", i32, "v", i32)},
		kernelSpec{Name: "r1_logsoftmax_gather_fwd", File: "logsoftmax.cu", Launch: ruleRowsLSM,
			Notes: "logp, lse, entropy (N) f32 (entropy nullable) from logits (N,V); target < 0 ignored",
			Args: args("logp", pf, "lse", pf, "entropy", pf, "logits", pb, "target", pi, "err", pi,
				"v", i32)},
		kernelSpec{Name: "r1_logsoftmax_gather_bwd", File: "logsoftmax.cu", Launch: ruleRowsLSM,
			Notes: "logits (N,V) overwritten by the gradient; dlogp, dentropy (N) f32 nullable",
			Args:  args("logits", pb, "lse", pf, "target", pi, "dlogp", pf, "dentropy", pf, "v", i32)},
	)
	for _, g := range []string{"f32", "bf16"} {
		t = append(t, kernelSpec{Name: "r1_adamw_" + g, File: "adamw.cu", Launch: ruleFlat,
			Notes: "p (f32 master), m, v updated in place; p16 (bf16 copy) nullable; decay = 1−lr·wd, " +
				"step_size = lr/(1−β1^t), sqrt_bc2 = √(1−β2^t) computed in float64 on the host",
			Args: args("p", pf, "p16", pb, "grad", ptr[g], "m", pf, "v", pf, "n", i64, "beta1", f32, "beta2", f32,
				"eps", f32, "decay", f32, "step_size", f32, "sqrt_bc2", f32)})
	}
	attn := "attention.cu"
	t = append(t,
		kernelSpec{Name: "r1_attention_fwd", File: attn, Launch: ruleQuery,
			Notes: "out (B,T,Hq,D), lse (B,Hq,T) f32; q (B,T,Hq,D); k, v (B,T,Hkv,D); mask (B,T) nullable; D ≤ 128",
			Args: args("out", pb, "lse", pf, "q", pb, "k", pb, "v", pb, "mask", pi, "t", i32, "hq", i32,
				"hkv", i32, "d", i32, "scale", f32)},
		kernelSpec{Name: "r1_attention_bwd_delta", File: attn, Launch: ruleWarps,
			Notes: "delta (B,Hq,T) f32 scratch = Σ dout·out; run before the two gradient kernels",
			Args:  args("delta", pf, "dout", pb, "out", pb, "b", i32, "t", i32, "hq", i32, "d", i32)},
		kernelSpec{Name: "r1_attention_bwd_dq", File: attn, Launch: ruleQuery,
			Notes: "dq (B,T,Hq,D) overwritten",
			Args: args("dq", pb, "dout", pb, "lse", pf, "delta", pf, "q", pb, "k", pb, "v", pb, "mask", pi,
				"t", i32, "hq", i32, "hkv", i32, "d", i32, "scale", f32)},
		kernelSpec{Name: "r1_attention_bwd_dkdv", File: attn, Launch: ruleKeys,
			Notes: "dk, dv (B,T,Hkv,D) overwritten, one writer per row (deterministic)",
			Args: args("dk", pb, "dv", pb, "dout", pb, "lse", pf, "delta", pf, "q", pb, "k", pb, "v", pb,
				"mask", pi, "t", i32, "hq", i32, "hkv", i32, "d", i32, "scale", f32)},
		kernelSpec{Name: "r1_kv_write", File: "paged.cu", Launch: "launchFlat(N·Hkv·D)",
			Notes: "kcache, vcache (S,Hkv,D)[slots (N)] = k, v (N,Hkv,D); row = Hkv·D; num_slots = S",
			Args: args("kcache", pb, "vcache", pb, "k", pb, "v", pb, "slots", pi, "err", pi, "n", i32,
				"row", i32, "num_slots", i32)},
		kernelSpec{Name: "r1_copy_slots", File: "paged.cu", Launch: "launchFlat(n·row)",
			Notes: "cache[dst[i]] = cache[src[i]]; no dst may be a src of the same call; once per cache",
			Args: args("cache", pb, "src", pi, "dst", pi, "err", pi, "n", i32, "row", i32,
				"num_slots", i32)},
		kernelSpec{Name: "r1_paged_attention", File: "paged.cu", Launch: rulePaged,
			Notes: "out, q (N,Hq,D); caches (S,Hkv,D); block_table (num_seqs, max_blocks); seq_idx, seq_lens (N); " +
				"D ≤ 128, Hq/Hkv ≤ 16",
			Args: args("out", pb, "q", pb, "kcache", pb, "vcache", pb, "block_table", pi, "seq_idx", pi,
				"seq_lens", pi, "err", pi, "hq", i32, "hkv", i32, "d", i32, "num_seqs", i32, "max_blocks", i32,
				"block_size", i32, "num_slots", i32, "scale", f32)},
	)
	for _, d := range []string{"f32", "bf16"} {
		t = append(t, kernelSpec{Name: "r1_sample_" + d, File: "sample.cu", Launch: "launchRows(N, 1024)",
			Notes: "token (N) int, logprob (N) f32 from logits (N,V) " + d + " and host uniforms u (N) f32, as sample.Pick; " +
				"temperature 0 = greedy; top_k 0, top_p 1, min_p 0 = off",
			Args: args("token", pi, "logprob", pf, "logits", ptr[d], "u", pf, "v", i32, "temperature", f32,
				"top_k", i32, "top_p", f32, "min_p", f32)})
	}
	return t
}

// launchConfig is a grid and block for (*device).Launch.
type launchConfig struct {
	Grid, Block [3]uint32
}

// Limits the kernels are written for (attention.cu, paged.cu, sample.cu).
const (
	// attentionMaxHeadDim is the largest head dimension D of the attention
	// kernels (their tiles are sized for it at compile time).
	attentionMaxHeadDim = 128
	// pagedMaxGroup is the largest Hq/Hkv of r1_paged_attention.
	pagedMaxGroup = 16
	// flatBlock is the block of grid-stride kernels; flatMaxGrid caps their
	// grid (each thread then loops), reduceMaxGrid the number of
	// SumSquares partials that the host adds up.
	flatBlock     = 256
	flatMaxGrid   = 1 << 16
	reduceMaxGrid = 1024
	// attnTile is the query/key tile of the attention kernels.
	attnTile = 32
)

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// launchFlat covers n elements with a grid-stride kernel. n = 0 still
// launches one block (which does nothing), so callers need no special case.
func launchFlat(n int64) (launchConfig, error) {
	if n < 0 {
		return launchConfig{}, fmt.Errorf("cuda: launchFlat: negative element count %d", n)
	}
	g := min(max(ceilDiv(n, flatBlock), 1), flatMaxGrid)
	return launchConfig{Grid: [3]uint32{uint32(g), 1, 1}, Block: [3]uint32{flatBlock, 1, 1}}, nil
}

// launchReduce is launchFlat for r1_sumsq_*: Grid[0] is the number of
// partial sums the kernel writes (the partial buffer's length).
func launchReduce(n int64) (launchConfig, error) {
	if n < 0 {
		return launchConfig{}, fmt.Errorf("cuda: launchReduce: negative element count %d", n)
	}
	g := min(max(ceilDiv(n, flatBlock), 1), reduceMaxGrid)
	return launchConfig{Grid: [3]uint32{uint32(g), 1, 1}, Block: [3]uint32{flatBlock, 1, 1}}, nil
}

// launchRows gives one block of threads (a multiple of 32, ≤ 1024) to each
// of rows rows.
func launchRows(rows, threads int) (launchConfig, error) {
	if rows < 1 || rows > 1<<31-1 {
		return launchConfig{}, fmt.Errorf("cuda: launchRows: %d rows; want 1 to 2^31-1", rows)
	}
	if threads < 32 || threads > 1024 || threads%32 != 0 {
		return launchConfig{}, fmt.Errorf("cuda: launchRows: %d threads per block; want a multiple of 32 up to 1024", threads)
	}
	return launchConfig{Grid: [3]uint32{uint32(rows), 1, 1}, Block: [3]uint32{uint32(threads), 1, 1}}, nil
}

// launchColumns is the launch of the column reductions (r1_sum_rows_acc_*,
// r1_rmsnorm_bwd_dw): 32 columns × 8 row strides per block.
func launchColumns(c int) (launchConfig, error) {
	if c < 1 {
		return launchConfig{}, fmt.Errorf("cuda: launchColumns: %d columns; want ≥ 1", c)
	}
	return launchConfig{Grid: [3]uint32{uint32(ceilDiv(int64(c), 32)), 1, 1}, Block: [3]uint32{32, 8, 1}}, nil
}

// launchWarpRows gives one warp to each of rows rows (4 warps a block).
func launchWarpRows(rows int64) (launchConfig, error) {
	g := ceilDiv(rows, 4)
	if rows < 1 || g > 1<<31-1 {
		return launchConfig{}, fmt.Errorf("cuda: launchWarpRows: %d rows; want 1 to 2^33", rows)
	}
	return launchConfig{Grid: [3]uint32{uint32(g), 1, 1}, Block: [3]uint32{128, 1, 1}}, nil
}

// launchAttention is the launch of the tiled attention kernels: one block
// of 128 threads per 32-row tile of T, per head (Hq for the query-side
// kernels, Hkv for r1_attention_bwd_dkdv), per batch row.
func launchAttention(b, t, heads int) (launchConfig, error) {
	if b < 1 || t < 1 || heads < 1 || b > 65535 || heads > 65535 {
		return launchConfig{}, fmt.Errorf("cuda: launchAttention: B=%d T=%d heads=%d; want all ≥ 1 and B, heads ≤ 65535", b, t, heads)
	}
	return launchConfig{Grid: [3]uint32{uint32(ceilDiv(int64(t), attnTile)), uint32(heads), uint32(b)}, Block: [3]uint32{128, 1, 1}}, nil
}

// launchPaged is the launch of r1_paged_attention: one block per token and
// kv head.
func launchPaged(n, hkv int) (launchConfig, error) {
	if n < 1 || hkv < 1 || hkv > 65535 {
		return launchConfig{}, fmt.Errorf("cuda: launchPaged: N=%d Hkv=%d; want N ≥ 1 and 1 ≤ Hkv ≤ 65535", n, hkv)
	}
	return launchConfig{Grid: [3]uint32{uint32(n), uint32(hkv), 1}, Block: [3]uint32{128, 1, 1}}, nil
}

// checkAttentionShape reports whether the attention kernels support a head
// dimension d and hq query heads over hkv kv heads; paged adds the limit of
// r1_paged_attention on the group size.
func checkAttentionShape(d, hq, hkv int, paged bool) error {
	switch {
	case d < 1 || d > attentionMaxHeadDim:
		return fmt.Errorf("cuda: attention head dimension %d unsupported; the kernels handle 1 to %d", d, attentionMaxHeadDim)
	case hkv < 1 || hq < hkv || hq%hkv != 0:
		return fmt.Errorf("cuda: attention with %d query heads over %d kv heads; want Hq a positive multiple of Hkv", hq, hkv)
	case paged && hq/hkv > pagedMaxGroup:
		return fmt.Errorf("cuda: paged attention group of %d query heads per kv head; the kernel handles up to %d", hq/hkv, pagedMaxGroup)
	}
	return nil
}

// kernelByName returns the table entry of a kernel.
func kernelByName(name string) (kernelSpec, bool) {
	for _, k := range kernelTable {
		if k.Name == name {
			return k, true
		}
	}
	return kernelSpec{}, false
}
