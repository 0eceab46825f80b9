package cuda

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// realDriverPresent reports whether this machine has a loadable libcuda,
// in which case the "absent" tests have nothing to check.
func realDriverPresent() bool {
	if platformError != nil {
		return false
	}
	_, err := dlopen("libcuda.so.1")
	return err == nil
}

func TestProbeWithoutDriver(t *testing.T) {
	if realDriverPresent() {
		t.Skip("libcuda.so.1 is loadable here; the GPU tests (-tags cuda) cover this machine")
	}
	wants := []string{"libcuda", "--device cpu"}
	if runtime.GOOS == "linux" {
		wants = append(wants, "libcuda.so.1", "/usr/local/cuda/lib64")
	} else {
		wants = []string{"CUDA needs linux", "--device cpu"}
	}
	_, perr := Probe()
	d, oerr := open(0)
	if d != nil {
		t.Errorf("Open returned a device without a driver")
	}
	for name, err := range map[string]error{"Probe": perr, "Open": oerr} {
		if err == nil {
			t.Fatalf("%s succeeded without a CUDA driver", name)
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s error %q does not mention %q", name, err, w)
			}
		}
	}
}

// TestProbeBrokenDriverFile checks that a file named like the driver but
// unloadable (here: not an ELF file) is reported with the loader's reason.
func TestProbeBrokenDriverFile(t *testing.T) {
	if runtime.GOOS != "linux" || realDriverPresent() {
		t.Skip("needs linux without a real libcuda")
	}
	home := t.TempDir()
	fake := filepath.Join(home, "lib64", "libcuda.so.1")
	touch(t, fake)
	if err := os.WriteFile(fake, []byte("not a shared object"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := testEnv(map[string]string{"CUDA_HOME": home})
	_, err := probeWith(env)
	if err == nil || !strings.Contains(err.Error(), fake) || !strings.Contains(err.Error(), "--device cpu") {
		t.Errorf("probe with a broken %s: %v; want an error naming the file and the CPU fallback", fake, err)
	}
}

func TestProbeInfoString(t *testing.T) {
	p := ProbeInfo{DriverPath: "libcuda.so.1", DriverVersion: "12.4", NVRTCVersion: "nvrtc 12.4",
		Devices: []DeviceInfo{{Ordinal: 0, Name: "NVIDIA H100 80GB HBM3", ComputeCapStr: "9.0", Arch: "sm_90", SMs: 132, TotalMemory: 80 << 30}}}
	s := p.String()
	for _, w := range []string{"cuda:0 NVIDIA H100 80GB HBM3", "9.0 (sm_90)", "132 SMs", "80.0 GiB", "CUDA 12.4"} {
		if !strings.Contains(s, w) {
			t.Errorf("String() = %q lacks %q", s, w)
		}
	}
}
