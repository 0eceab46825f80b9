package cuda

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// DeviceInfo describes one GPU.
type DeviceInfo struct {
	Ordinal           int
	Name              string
	CCMajor           int
	CCMinor           int
	SMs               int
	TotalMemory       uint64 // bytes
	Arch              string // NVRTC target, e.g. "sm_90"
	ComputeCapStr     string // "9.0"
	DriverCUDAVersion string // the CUDA version the driver supports, e.g. "12.4"
}

// ProbeInfo is what Probe found: the GPUs and the libraries r1 would use.
type ProbeInfo struct {
	Devices         []DeviceInfo
	DriverPath      string
	DriverVersion   string // CUDA version supported by the driver
	NVRTCPath       string
	NVRTCVersion    string
	CublasLtPath    string
	CublasLtVersion string
}

// String is a short human-readable report.
func (p ProbeInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "driver %s (CUDA %s)\n", p.DriverPath, p.DriverVersion)
	fmt.Fprintf(&b, "nvrtc %s (%s)\ncublasLt %s (%s)\n", p.NVRTCPath, p.NVRTCVersion, p.CublasLtPath, p.CublasLtVersion)
	for _, d := range p.Devices {
		fmt.Fprintf(&b, "cuda:%d %s, compute capability %s (%s), %d SMs, %.1f GiB\n",
			d.Ordinal, d.Name, d.ComputeCapStr, d.Arch, d.SMs, float64(d.TotalMemory)/(1<<30))
	}
	return b.String()
}

// Probe looks for the CUDA libraries and GPUs without creating a context.
// It returns whatever it found together with an error when anything the
// CUDA backend needs is missing; the error says what and that the CPU
// backend will be used.
func Probe() (ProbeInfo, error) { return probeWith(defaultEnv()) }

func probeWith(env searchEnv) (ProbeInfo, error) {
	var info ProbeInfo
	drv, err := loadDriver(env)
	if err != nil {
		return info, err
	}
	info.DriverPath = drv.path
	// cuInit and the device queries need no context, so the calling
	// thread will do.
	if err := drv.call("cuInit", drv.cuInit, 0); err != nil {
		return info, fmt.Errorf("%w; the CPU backend will be used (--device cpu)", err)
	}
	var ver, count int32
	if err := drv.call("cuDriverGetVersion", drv.cuDriverGetVersion, uintptr(unsafe.Pointer(&ver))); err == nil {
		info.DriverVersion = fmt.Sprintf("%d.%d", ver/1000, ver%1000/10)
	}
	if err := drv.call("cuDeviceGetCount", drv.cuDeviceGetCount, uintptr(unsafe.Pointer(&count))); err != nil {
		return info, err
	}
	if count == 0 {
		return info, errors.New("cuda: the driver reports no CUDA device; the CPU backend will be used (--device cpu)")
	}
	for i := 0; i < int(count); i++ {
		di, err := probeDevice(drv, i)
		if err != nil {
			return info, err
		}
		di.DriverCUDAVersion = info.DriverVersion
		info.Devices = append(info.Devices, di)
	}
	var errs []error
	if nv, err := loadNVRTC(env); err != nil {
		errs = append(errs, err)
	} else {
		info.NVRTCPath, info.NVRTCVersion = nv.path, nv.version()
	}
	if lt, err := loadCublasLt(env); err != nil {
		errs = append(errs, err)
	} else {
		info.CublasLtPath, info.CublasLtVersion = lt.path, lt.version()
	}
	return info, errors.Join(errs...)
}

func probeDevice(drv *driver, ordinal int) (DeviceInfo, error) {
	di := DeviceInfo{Ordinal: ordinal}
	var dev int32
	if err := drv.call("cuDeviceGet", drv.cuDeviceGet, uintptr(unsafe.Pointer(&dev)), uintptr(ordinal)); err != nil {
		return di, err
	}
	name := make([]byte, 256)
	if err := drv.call("cuDeviceGetName", drv.cuDeviceGetName, uintptr(unsafe.Pointer(&name[0])), uintptr(len(name)), uintptr(dev)); err != nil {
		return di, err
	}
	if i := strings.IndexByte(string(name), 0); i >= 0 {
		name = name[:i]
	}
	di.Name = string(name)
	for _, a := range []struct {
		attr int
		dst  *int
	}{{cuDevAttrCCMajor, &di.CCMajor}, {cuDevAttrCCMinor, &di.CCMinor}, {cuDevAttrMultiprocessorCount, &di.SMs}} {
		var v int32
		if err := drv.call("cuDeviceGetAttribute", drv.cuDeviceGetAttribute, uintptr(unsafe.Pointer(&v)), uintptr(a.attr), uintptr(dev)); err != nil {
			return di, err
		}
		*a.dst = int(v)
	}
	var total uintptr
	if err := drv.call("cuDeviceTotalMem_v2", drv.cuDeviceTotalMem, uintptr(unsafe.Pointer(&total)), uintptr(dev)); err != nil {
		return di, err
	}
	di.TotalMemory = uint64(total)
	di.Arch = fmt.Sprintf("sm_%d%d", di.CCMajor, di.CCMinor)
	di.ComputeCapStr = fmt.Sprintf("%d.%d", di.CCMajor, di.CCMinor)
	return di, nil
}
