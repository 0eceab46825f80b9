package retry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDo(t *testing.T) {
	errT := errors.New("transient")
	tests := []struct {
		name     string
		retries  int
		failures int  // tries that fail before one succeeds
		retry    bool // whether failures are retryable
		calls    int
		wantErr  string
	}{
		{"first try", 2, 0, true, 1, ""},
		{"recovers", 2, 2, true, 3, ""},
		{"gives up", 2, 5, true, 3, "gave up after 3 attempts"},
		{"not retryable", 5, 5, false, 1, "transient"},
		{"no retries", 0, 1, true, 1, "transient"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := Do(context.Background(), Policy{Retries: tc.retries, Backoff: time.Microsecond}, func(int) (bool, time.Duration, error) {
				calls++
				if calls <= tc.failures {
					return tc.retry, 0, errT
				}
				return false, 0, nil
			})
			if calls != tc.calls {
				t.Errorf("calls = %d, want %d", calls, tc.calls)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestDoStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Do(ctx, Policy{Retries: 100, Backoff: time.Hour}, func(int) (bool, time.Duration, error) {
		calls++
		cancel()
		return true, 0, errors.New("down")
	})
	if calls != 1 || !errors.Is(err, context.Canceled) {
		t.Errorf("calls %d, err %v: want 1 call and context.Canceled", calls, err)
	}
}

func TestPolicyDelay(t *testing.T) {
	p := Policy{Backoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}
	for a, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 300 * time.Millisecond, 40: 300 * time.Millisecond} {
		if got := p.Delay(a); got != want {
			t.Errorf("Delay(%d) = %v, want %v", a, got, want)
		}
	}
	if got, want := (Policy{Retries: 2, Backoff: time.Second}).Worst(10*time.Second), 33*time.Second; got != want {
		t.Errorf("Worst = %v, want %v", got, want)
	}
}
