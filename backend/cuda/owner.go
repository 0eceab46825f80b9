package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
)

// errClosed is returned by calls on a closed device.
var errClosed = errors.New("cuda: device is closed")

// owner runs functions on one goroutine locked to its OS thread. A CUDA
// context is current per OS thread and Go moves goroutines between threads
// freely, so every driver call for a device goes through its owner.
type owner struct {
	work chan func()
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

// startOwner starts the thread and runs init on it; if init fails the
// thread exits and the error is returned.
func startOwner(init func() error) (*owner, error) {
	o := &owner{work: make(chan func()), quit: make(chan struct{}), done: make(chan struct{})}
	initErr := make(chan error, 1)
	go func() {
		// Never unlocked: a thread that held a CUDA context should not go
		// back to the scheduler's pool, so it dies with the goroutine.
		runtime.LockOSThread()
		defer close(o.done)
		if err := safeCall(init); err != nil {
			initErr <- err
			return
		}
		initErr <- nil
		for {
			select {
			case f := <-o.work:
				f()
			case <-o.quit:
				return
			}
		}
	}()
	if err := <-initErr; err != nil {
		return nil, err
	}
	return o, nil
}

// do runs f on the owner thread and waits for it. A panic in f comes back
// as an error instead of killing the thread that every later call needs.
func (o *owner) do(f func() error) error {
	var err error
	ran := make(chan struct{})
	job := func() {
		err = safeCall(f)
		close(ran)
	}
	select {
	case o.work <- job:
	case <-o.done:
		return errClosed
	}
	<-ran
	return err
}

// stop runs last on the owner thread, then ends it. Later do calls fail
// with errClosed; a second stop does nothing and returns nil.
func (o *owner) stop(last func() error) error {
	var err error
	o.once.Do(func() {
		err = o.do(last)
		close(o.quit)
		<-o.done
	})
	return err
}

func safeCall(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cuda: panic on the device thread: %v", r)
		}
	}()
	return f()
}
