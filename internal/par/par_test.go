package par

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every part runs exactly once, whatever the count, back to back (workers
// spinning) and after the workers parked.
func TestDoRunsEachPartOnce(t *testing.T) {
	for round, n := range []int{0, 1, 2, 3, 7, 64, 2, 5} {
		if round == 6 {
			time.Sleep(3 * spinFor) // let the workers park
		}
		counts := make([]atomic.Int32, max(n, 1))
		Do(n, func(i int) { counts[i].Add(1) })
		for i := 0; i < n; i++ {
			if c := counts[i].Load(); c != 1 {
				t.Fatalf("n=%d: part %d ran %d times", n, i, c)
			}
		}
	}
}

// Regions started inside a region, or by several goroutines at once, run
// on goroutines of their own and complete.
func TestDoNestedAndConcurrent(t *testing.T) {
	var total atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 50; r++ {
				Do(3, func(int) {
					Do(4, func(int) { total.Add(1) })
				})
			}
		}()
	}
	wg.Wait()
	if got := total.Load(); got != 4*50*3*4 {
		t.Fatalf("%d inner parts ran, want %d", got, 4*50*3*4)
	}
}
