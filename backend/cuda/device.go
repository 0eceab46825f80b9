// The device: every method here calls the CUDA driver through purego and
// so has only been compiled and vetted, never run on a GPU (none was
// available where it was written). device_cuda_test.go (-tags cuda) holds
// the tests that exercise it on a GPU.

package cuda

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// module is a loaded CUBIN (CUmodule).
type module struct{ h uintptr }

// function is a kernel in a loaded module (CUfunction).
type function struct {
	h    uintptr
	name string
}

// Name is the kernel's name as given to (*device).Function.
func (f function) Name() string { return f.name }

// event is a CUDA event, for timing work on the device's stream.
type event struct{ h uintptr }

// graph is an instantiated CUDA graph (CUgraphExec plus the CUgraph it came
// from) captured from the device's stream.
type graph struct{ exec, graph uintptr }

// device is one GPU. All driver calls run on a single goroutine locked to
// its OS thread (the owner), which holds the device's primary context
// current; every method may be called from any goroutine. Work is issued
// on one non-blocking stream, so kernels, copies and GEMMs run in call
// order and are captured whole into CUDA graphs.
type device struct {
	ordinal int
	drv     *driver
	own     *owner
	env     searchEnv

	dev    int32
	ctx    uintptr
	stream uintptr

	name        string
	ccMajor     int
	ccMinor     int
	sms         int
	totalMem    uint64
	driverVer   int32
	alloc       *allocator
	kcache      *kernelCache
	kcacheDir   string
	libMu       sync.Mutex // guards the lazily loaded libraries below
	nv          *nvrtc
	lt          *cublasLt
	ltHandle    uintptr
	ltWorkspace devicePtr
	gemmPlans   map[gemmKey]*gemmPlan
	modules     []uintptr // unloaded on Close
	closeOnce   sync.Once
	closeErr    error
}

// open initialises the driver and the GPU with the given ordinal. The
// error, when there is no usable GPU, says why and that the CPU backend
// will be used.
func open(ordinal int) (*device, error) {
	return openWith(ordinal, defaultEnv(), defaultKernelCacheDir())
}

func openWith(ordinal int, env searchEnv, cacheDir string) (*device, error) {
	drv, err := loadDriver(env)
	if err != nil {
		return nil, err
	}
	d := &device{ordinal: ordinal, drv: drv, env: env, kcacheDir: cacheDir, gemmPlans: map[gemmKey]*gemmPlan{}}
	d.alloc = newAllocator(driverMemory{d})
	own, err := startOwner(d.init)
	if err != nil {
		return nil, err
	}
	d.own = own
	return d, nil
}

// init runs on the owner thread.
func (d *device) init() error {
	drv := d.drv
	if err := drv.call("cuInit", drv.cuInit, 0); err != nil {
		return fmt.Errorf("%w; the CPU backend will be used (--device cpu)", err)
	}
	var count int32
	if err := drv.call("cuDeviceGetCount", drv.cuDeviceGetCount, uintptr(unsafe.Pointer(&count))); err != nil {
		return err
	}
	if d.ordinal < 0 || d.ordinal >= int(count) {
		return fmt.Errorf("cuda: device %d requested but %d CUDA device(s) present; the CPU backend will be used (--device cpu)", d.ordinal, count)
	}
	drv.call("cuDriverGetVersion", drv.cuDriverGetVersion, uintptr(unsafe.Pointer(&d.driverVer)))
	di, err := probeDevice(drv, d.ordinal)
	if err != nil {
		return err
	}
	if err := drv.call("cuDeviceGet", drv.cuDeviceGet, uintptr(unsafe.Pointer(&d.dev)), uintptr(d.ordinal)); err != nil {
		return err
	}
	d.name, d.ccMajor, d.ccMinor, d.sms, d.totalMem = di.Name, di.CCMajor, di.CCMinor, di.SMs, di.TotalMemory
	// The primary context is the one the runtime API (and so PyTorch or
	// any library sharing the process) uses; retaining it instead of
	// creating our own avoids a second context's memory overhead.
	if err := drv.call("cuDevicePrimaryCtxRetain", drv.cuDevicePrimaryCtxRetain, uintptr(unsafe.Pointer(&d.ctx)), uintptr(d.dev)); err != nil {
		return err
	}
	if err := drv.call("cuCtxSetCurrent", drv.cuCtxSetCurrent, d.ctx); err != nil {
		drv.call("cuDevicePrimaryCtxRelease_v2", drv.cuDevicePrimaryCtxRelease, uintptr(d.dev))
		return err
	}
	// Non-blocking: the legacy default stream never serializes with it, a
	// requirement for stream capture into graphs.
	if err := drv.call("cuStreamCreate", drv.cuStreamCreate, uintptr(unsafe.Pointer(&d.stream)), cuStreamNonBlocking); err != nil {
		drv.call("cuDevicePrimaryCtxRelease_v2", drv.cuDevicePrimaryCtxRelease, uintptr(d.dev))
		return err
	}
	return nil
}

// do runs f on the owner thread.
func (d *device) do(f func() error) error {
	if d == nil || d.own == nil {
		return errClosed
	}
	return d.own.do(f)
}

// Close waits for queued work, frees all device memory, unloads modules,
// destroys the stream and cuBLASLt state, and releases the primary
// context. Later calls on d fail; a second Close returns the first's result.
func (d *device) Close() error {
	if d == nil || d.own == nil {
		return nil
	}
	d.closeOnce.Do(func() {
		d.closeErr = d.own.stop(func() error {
			drv := d.drv
			first := drv.call("cuStreamSynchronize", drv.cuStreamSynchronize, d.stream)
			keep := func(err error) {
				if first == nil {
					first = err
				}
			}
			d.libMu.Lock()
			if d.lt != nil {
				for _, p := range d.gemmPlans {
					d.lt.destroyPlan(p)
				}
				if d.ltHandle != 0 {
					keep(d.lt.call("cublasLtDestroy", d.lt.cublasLtDestroy, d.ltHandle))
				}
			}
			d.libMu.Unlock()
			keep(d.alloc.releaseAll())
			for _, m := range d.modules {
				keep(drv.call("cuModuleUnload", drv.cuModuleUnload, m))
			}
			keep(drv.call("cuStreamDestroy_v2", drv.cuStreamDestroy, d.stream))
			keep(drv.call("cuDevicePrimaryCtxRelease_v2", drv.cuDevicePrimaryCtxRelease, uintptr(d.dev)))
			return first
		})
	})
	return d.closeErr
}

// DriverVersion is the CUDA version the driver supports, e.g. "12.4".
func (d *device) DriverVersion() string {
	return fmt.Sprintf("%d.%d", d.driverVer/1000, d.driverVer%1000/10)
}

// Name is "cuda:N", the tensor.Backend naming.
func (d *device) Name() string { return fmt.Sprintf("cuda:%d", d.ordinal) }

// DeviceName is the product name, e.g. "NVIDIA H100 80GB HBM3".
func (d *device) DeviceName() string { return d.name }

// ComputeCapability is (major, minor), e.g. (9, 0) for an H100.
func (d *device) ComputeCapability() (int, int) { return d.ccMajor, d.ccMinor }

// Arch is the NVRTC architecture of this device, e.g. "sm_90".
func (d *device) Arch() string { return fmt.Sprintf("sm_%d%d", d.ccMajor, d.ccMinor) }

// SMCount is the number of streaming multiprocessors.
func (d *device) SMCount() int { return d.sms }

// TotalMemory is the device memory in bytes.
func (d *device) TotalMemory() uint64 { return d.totalMem }

// driverMemory is the allocator's raw memory: the driver, called on the
// owner thread (the allocator is only used from inside d.do).
type driverMemory struct{ d *device }

func (m driverMemory) alloc(n uint64) (devicePtr, error) {
	var p devicePtr
	err := m.d.drv.call("cuMemAlloc_v2", m.d.drv.cuMemAlloc, uintptr(unsafe.Pointer(&p)), uintptr(n))
	return p, err
}

func (m driverMemory) free(p devicePtr) error {
	return m.d.drv.call("cuMemFree_v2", m.d.drv.cuMemFree, uintptr(p))
}

// Alloc returns n bytes of device memory from the caching allocator.
func (d *device) Alloc(n uint64) (devicePtr, error) {
	var p devicePtr
	err := d.do(func() (err error) { p, err = d.alloc.Alloc(n); return })
	return p, err
}

// Free returns memory to the allocator's cache. Freed memory may be handed
// out again while kernels queued earlier still use it; that is safe
// because all work runs in order on the device's single stream.
func (d *device) Free(p devicePtr) error {
	return d.do(func() error { return d.alloc.Free(p) })
}

// MemStats returns the allocator's counters (peak memory for `r1 bench`).
func (d *device) MemStats() memStats { return d.alloc.Stats() }

// ResetPeak starts a new peak-memory measurement.
func (d *device) ResetPeak() { d.alloc.ResetPeak() }

// EmptyCache returns cached blocks to the driver.
func (d *device) EmptyCache() error {
	return d.do(func() error {
		if err := d.drv.call("cuStreamSynchronize", d.drv.cuStreamSynchronize, d.stream); err != nil {
			return err
		}
		return d.alloc.EmptyCache()
	})
}

// MemInfo is the driver's view: free and total device memory in bytes.
func (d *device) MemInfo() (free, total uint64, err error) {
	err = d.do(func() error {
		var f, t uintptr
		e := d.drv.call("cuMemGetInfo_v2", d.drv.cuMemGetInfo, uintptr(unsafe.Pointer(&f)), uintptr(unsafe.Pointer(&t)))
		free, total = uint64(f), uint64(t)
		return e
	})
	return
}

// CopyHtoD copies src to device memory at dst and returns once src may be
// reused. The copy is ordered on the device's stream after earlier work.
func (d *device) CopyHtoD(dst devicePtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	return d.do(func() error {
		if err := d.drv.call("cuMemcpyHtoDAsync_v2", d.drv.cuMemcpyHtoDAsync, uintptr(dst), uintptr(unsafe.Pointer(&src[0])), uintptr(len(src)), d.stream); err != nil {
			return err
		}
		// From pageable memory the driver may still be reading src.
		return d.drv.call("cuStreamSynchronize", d.drv.cuStreamSynchronize, d.stream)
	})
}

// CopyDtoH copies device memory at src into dst after all earlier work on
// the stream has finished.
func (d *device) CopyDtoH(dst []byte, src devicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	return d.do(func() error {
		if err := d.drv.call("cuMemcpyDtoHAsync_v2", d.drv.cuMemcpyDtoHAsync, uintptr(unsafe.Pointer(&dst[0])), uintptr(src), uintptr(len(dst)), d.stream); err != nil {
			return err
		}
		return d.drv.call("cuStreamSynchronize", d.drv.cuStreamSynchronize, d.stream)
	})
}

// CopyDtoD queues a device-to-device copy of n bytes.
func (d *device) CopyDtoD(dst, src devicePtr, n uint64) error {
	if n == 0 {
		return nil
	}
	return d.do(func() error {
		return d.drv.call("cuMemcpyDtoDAsync_v2", d.drv.cuMemcpyDtoDAsync, uintptr(dst), uintptr(src), uintptr(n), d.stream)
	})
}

// Memset8 queues setting n bytes at p to v.
func (d *device) Memset8(p devicePtr, v byte, n uint64) error {
	return d.do(func() error {
		return d.drv.call("cuMemsetD8Async", d.drv.cuMemsetD8Async, uintptr(p), uintptr(v), uintptr(n), d.stream)
	})
}

// Memset32 queues setting n 32-bit words at p (4-byte aligned) to v, e.g.
// the bits of a float32.
func (d *device) Memset32(p devicePtr, v uint32, n uint64) error {
	return d.do(func() error {
		return d.drv.call("cuMemsetD32Async", d.drv.cuMemsetD32Async, uintptr(p), uintptr(v), uintptr(n), d.stream)
	})
}

// Synchronize waits for all queued work and reports the first
// asynchronous error (a kernel fault surfaces here).
func (d *device) Synchronize() error {
	return d.do(func() error { return d.drv.call("cuStreamSynchronize", d.drv.cuStreamSynchronize, d.stream) })
}

// LoadModule loads a CUBIN (from CompileKernel) into the context.
func (d *device) LoadModule(cubin []byte) (module, error) {
	if len(cubin) == 0 {
		return module{}, fmt.Errorf("cuda: LoadModule: empty CUBIN")
	}
	var m module
	err := d.do(func() error {
		if err := d.drv.call("cuModuleLoadData", d.drv.cuModuleLoadData, uintptr(unsafe.Pointer(&m.h)), uintptr(unsafe.Pointer(&cubin[0]))); err != nil {
			return err
		}
		d.modules = append(d.modules, m.h)
		return nil
	})
	return m, err
}

// Function looks a kernel up by its (extern "C") name.
func (d *device) Function(m module, name string) (function, error) {
	f := function{name: name}
	cname := cString(name)
	err := d.do(func() error {
		return d.drv.call("cuModuleGetFunction", d.drv.cuModuleGetFunction, uintptr(unsafe.Pointer(&f.h)), m.h, uintptr(unsafe.Pointer(&cname[0])))
	})
	if err != nil {
		return function{}, fmt.Errorf("%w (kernel %s: is it declared extern \"C\"?)", err, name)
	}
	return f, nil
}

// CompileKernel compiles CUDA C source for this device with NVRTC (loaded
// on first use), through the on-disk kernel cache.
func (d *device) CompileKernel(src, name string, opts []string) ([]byte, error) {
	d.libMu.Lock()
	if d.nv == nil {
		nv, err := loadNVRTC(d.env)
		if err != nil {
			d.libMu.Unlock()
			return nil, err
		}
		d.nv = nv
		d.kcache = newKernelCache(d.kcacheDir, nv)
	}
	kc := d.kcache
	d.libMu.Unlock()
	return kc.Compile(src, name, d.Arch(), opts)
}

// LoadSource compiles CUDA C source for this device (through the kernel
// cache) and loads it: the one call the ops need to get at their kernels.
func (d *device) LoadSource(src, name string, opts []string) (module, error) {
	cubin, err := d.CompileKernel(src, name, opts)
	if err != nil {
		return module{}, err
	}
	return d.LoadModule(cubin)
}

// Launch queues kernel fn on the device's stream. args are marshalled into
// cuLaunchKernel's kernelParams: devicePtr, int32, uint32, float32, int64
// and uint64, in the order of the kernel's parameters.
func (d *device) Launch(fn function, grid, block [3]uint32, sharedMem uint32, args ...any) error {
	if fn.h == 0 {
		return fmt.Errorf("cuda: launch of an unloaded function %q", fn.name)
	}
	if err := validateLaunch(fn.name, grid, block); err != nil {
		return err
	}
	kp, err := packParams(args)
	if err != nil {
		return fmt.Errorf("%w (kernel %s)", err, fn.name)
	}
	err = d.do(func() error {
		// cuLaunchKernel(f, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedMemBytes, hStream, kernelParams, extra)
		return d.drv.call("cuLaunchKernel", d.drv.cuLaunchKernel, fn.h,
			uintptr(grid[0]), uintptr(grid[1]), uintptr(grid[2]),
			uintptr(block[0]), uintptr(block[1]), uintptr(block[2]),
			uintptr(sharedMem), d.stream, kp.ptr(len(args)), 0)
	})
	// The driver copies the argument values during cuLaunchKernel, so they
	// need to live only until it returns.
	runtime.KeepAlive(kp)
	if err != nil {
		return fmt.Errorf("%w (kernel %s grid %v block %v)", err, fn.name, grid, block)
	}
	return nil
}

// NewEvent creates an event for timing.
func (d *device) NewEvent() (event, error) {
	var e event
	err := d.do(func() error {
		return d.drv.call("cuEventCreate", d.drv.cuEventCreate, uintptr(unsafe.Pointer(&e.h)), cuEventDefault)
	})
	return e, err
}

// Record queues e on the device's stream.
func (d *device) Record(e event) error {
	return d.do(func() error { return d.drv.call("cuEventRecord", d.drv.cuEventRecord, e.h, d.stream) })
}

// ElapsedMs waits for end and returns the milliseconds between two
// recorded events.
func (d *device) ElapsedMs(start, end event) (float32, error) {
	var ms float32
	err := d.do(func() error {
		if err := d.drv.call("cuEventSynchronize", d.drv.cuEventSynchronize, end.h); err != nil {
			return err
		}
		return d.drv.call("cuEventElapsedTime", d.drv.cuEventElapsedTime, uintptr(unsafe.Pointer(&ms)), start.h, end.h)
	})
	return ms, err
}

// DestroyEvent releases e.
func (d *device) DestroyEvent(e event) error {
	return d.do(func() error { return d.drv.call("cuEventDestroy_v2", d.drv.cuEventDestroy, e.h) })
}

// BeginCapture starts recording the stream's work into a graph instead of
// running it. Nothing may synchronize the stream (copies to the host,
// Synchronize, cuMemAlloc) until EndCapture, so buffers must be allocated
// beforehand.
func (d *device) BeginCapture() error {
	return d.do(func() error {
		return d.drv.call("cuStreamBeginCapture_v2", d.drv.cuStreamBeginCapture, d.stream, cuStreamCaptureModeThread)
	})
}

// EndCapture stops recording and instantiates the graph.
func (d *device) EndCapture() (graph, error) {
	var g graph
	err := d.do(func() error {
		if err := d.drv.call("cuStreamEndCapture", d.drv.cuStreamEndCapture, d.stream, uintptr(unsafe.Pointer(&g.graph))); err != nil {
			return err
		}
		if err := d.drv.call("cuGraphInstantiateWithFlags", d.drv.cuGraphInstantiateWithFlags, uintptr(unsafe.Pointer(&g.exec)), g.graph, 0); err != nil {
			d.drv.call("cuGraphDestroy", d.drv.cuGraphDestroy, g.graph)
			return err
		}
		return nil
	})
	return g, err
}

// LaunchGraph queues a captured graph on the device's stream.
func (d *device) LaunchGraph(g graph) error {
	return d.do(func() error { return d.drv.call("cuGraphLaunch", d.drv.cuGraphLaunch, g.exec, d.stream) })
}

// DestroyGraph releases a graph.
func (d *device) DestroyGraph(g graph) error {
	return d.do(func() error {
		err := d.drv.call("cuGraphExecDestroy", d.drv.cuGraphExecDestroy, g.exec)
		if e2 := d.drv.call("cuGraphDestroy", d.drv.cuGraphDestroy, g.graph); err == nil {
			err = e2
		}
		return err
	})
}

// Gemm queues C = alpha·op(A)·op(B) + beta·C (row-major, see gemmSpec)
// through cuBLASLt, which is loaded and planned per shape on first use.
func (d *device) Gemm(g gemmSpec, a, b, c devicePtr, alpha, beta float32) error {
	if err := g.validate(); err != nil {
		return err
	}
	return d.do(func() error {
		d.libMu.Lock()
		defer d.libMu.Unlock()
		if d.lt == nil {
			lt, err := loadCublasLt(d.env)
			if err != nil {
				return err
			}
			var h uintptr
			if err := lt.call("cublasLtCreate", lt.cublasLtCreate, uintptr(unsafe.Pointer(&h))); err != nil {
				return err
			}
			ws, err := d.alloc.Alloc(ltWorkspaceBytes)
			if err != nil {
				lt.call("cublasLtDestroy", lt.cublasLtDestroy, h)
				return err
			}
			d.lt, d.ltHandle, d.ltWorkspace = lt, h, ws
		}
		key := gemmKeyFor(g, a, b, c)
		p := d.gemmPlans[key]
		if p == nil {
			var err error
			if p, err = d.lt.newPlan(d.ltHandle, key); err != nil {
				return err
			}
			d.gemmPlans[key] = p
		}
		return d.lt.matmul(d.ltHandle, p, g, a, b, c, alpha, beta, d.ltWorkspace, d.stream)
	})
}
