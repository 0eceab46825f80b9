// Package retry runs a request again after transient failures with
// exponential backoff: the convention of r1's HTTP clients (the remote
// reward, the OpenAI-compatible client). A try says itself whether its
// failure is worth repeating (network errors, timeouts, 429, 5xx are; a
// 4xx is not, since repeating a bad request cannot help).
package retry

import (
	"context"
	"fmt"
	"time"
)

// Policy is how often and how patiently to retry.
type Policy struct {
	// Retries is how many times a failed try is repeated (0: tried once).
	Retries int
	// Backoff is the delay before the first retry; each later one doubles.
	Backoff time.Duration
	// MaxBackoff caps one delay (0: no cap).
	MaxBackoff time.Duration
}

// Delay is the wait before retry attempt a (1-based).
func (p Policy) Delay(a int) time.Duration {
	d := p.Backoff << (a - 1)
	if p.MaxBackoff > 0 && (d > p.MaxBackoff || d < 0) {
		d = p.MaxBackoff
	}
	return d
}

// Worst is the longest Do can take when every try takes at most one.
func (p Policy) Worst(one time.Duration) time.Duration {
	t := one * time.Duration(p.Retries+1)
	for a := 1; a <= p.Retries; a++ {
		t += p.Delay(a)
	}
	return t
}

// Do calls try until it succeeds, says not to retry, the retries are spent
// or ctx ends. try gets the attempt number (0 first) and may ask for a
// longer wait before the next one (a server's Retry-After) through wait.
// The error returned is try's last, or ctx's wrapped with it.
func Do(ctx context.Context, p Policy, try func(attempt int) (retry bool, wait time.Duration, err error)) error {
	var lastErr error
	var extra time.Duration
	for attempt := 0; attempt <= p.Retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(max(p.Delay(attempt), extra))
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (after %d attempts; last error: %v)", ctx.Err(), attempt, lastErr)
			case <-t.C:
			}
		}
		retry, wait, err := try(attempt)
		if err == nil {
			return nil
		}
		lastErr, extra = err, wait
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
		if !retry {
			return err
		}
		if attempt == p.Retries && p.Retries > 0 {
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt+1)
		}
	}
	return lastErr
}
