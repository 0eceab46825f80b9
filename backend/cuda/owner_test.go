package cuda

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestOwnerSerializesOnOneThread(t *testing.T) {
	var initTID int
	o, err := startOwner(func() error { initTID = threadID(); return nil })
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	tids := map[int]bool{}
	running := 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := o.do(func() error {
				mu.Lock()
				running++
				overlap := running > 1
				tids[threadID()] = true
				mu.Unlock()
				mu.Lock()
				running--
				mu.Unlock()
				if overlap {
					return errors.New("two jobs ran at once")
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(tids) != 1 || !tids[initTID] {
		t.Errorf("jobs ran on threads %v, init on %d; want all on the init thread", tids, initTID)
	}
	if err := o.stop(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestOwnerErrorsAndPanics(t *testing.T) {
	if _, err := startOwner(func() error { return errors.New("cuInit failed") }); err == nil || err.Error() != "cuInit failed" {
		t.Errorf("failing init: %v", err)
	}
	if _, err := startOwner(func() error { panic("boom") }); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("panicking init: %v", err)
	}
	o, err := startOwner(func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := o.do(func() error { panic("kernel bug") }); err == nil || !strings.Contains(err.Error(), "kernel bug") {
		t.Errorf("panicking job: %v", err)
	}
	// The thread survives the panic.
	if err := o.do(func() error { return nil }); err != nil {
		t.Errorf("job after a panic: %v", err)
	}
	last := errors.New("release failed")
	if err := o.stop(func() error { return last }); err != last {
		t.Errorf("stop = %v, want %v", err, last)
	}
	if err := o.stop(func() error { return errors.New("ran twice") }); err != nil {
		t.Errorf("second stop = %v, want nil", err)
	}
	if err := o.do(func() error { return nil }); err != errClosed {
		t.Errorf("do after stop = %v, want %v", err, errClosed)
	}
}

func TestClosedDevice(t *testing.T) {
	var d *device
	if err := d.do(func() error { return nil }); err != errClosed {
		t.Errorf("nil device: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close of a nil device: %v", err)
	}
	// Every method reaches the driver through do, so a device whose owner
	// is gone answers errClosed instead of crashing.
	d = &device{alloc: newAllocator(newFakeMemory(1 << 20))}
	if _, err := d.Alloc(10); err != errClosed {
		t.Errorf("Alloc on a closed device: %v", err)
	}
	if err := d.Launch(function{h: 1, name: "k"}, [3]uint32{1, 1, 1}, [3]uint32{1, 1, 1}, 0); err == nil {
		t.Error("Launch on a closed device succeeded")
	}
}
