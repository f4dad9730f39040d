package childtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// envKey holds, in a child's environment, the name of the test it was started for.
const envKey = "SEMPROX_CHILD_TEST"

// Child reports whether this process is the child started for t (by [RunLimited] or [Command]).
func Child(t testing.TB) bool { return os.Getenv(envKey) == t.Name() }

// Command returns a command that runs the test t again, alone, in a child process of this test
// binary, with env added to its environment; in the child, [Child](t) is true. The caller starts
// it (and may kill it).
func Command(t testing.TB, env ...string) *exec.Cmd {
	return CommandContext(context.Background(), t, env...)
}

// CommandContext is [Command] with a context that kills the child when it is done.
func CommandContext(ctx context.Context, t testing.TB, env ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", runPattern(t.Name()), "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), envKey+"="+t.Name()), env...)
	return cmd
}

// runPattern is the -test.run pattern that selects exactly the (sub)test called name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// raceSlowdown is how much longer a child may take under the race detector, which slows
// decoding and parsing some twenty times.
const raceSlowdown = 20

// RunLimited runs t again in a child process whose address space is limited to limit bytes
// (prlimit --as) and which is killed after timeout, and fails t, with the child's output, unless
// the child passes in time. It skips t where prlimit is not installed. Under the race detector,
// whose shadow memory alone exceeds any such limit, the child runs without the limit and with
// raceSlowdown times the timeout.
func RunLimited(t *testing.T, limit int64, timeout time.Duration) {
	t.Helper()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skipf("prlimit (util-linux) is not installed: cannot run %s under an address-space limit", t.Name())
	}
	under := fmt.Sprintf("under a %d MB address-space limit", limit>>20)
	if raceEnabled {
		timeout *= raceSlowdown
		under = "without an address-space limit (the race detector's shadow memory would exceed it)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := CommandContext(ctx, t)
	if !raceEnabled {
		args := append([]string{fmt.Sprintf("--as=%d", limit), "--"}, cmd.Args...)
		cmd.Path, cmd.Args = prlimit, append([]string{prlimit}, args...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		t.Fatalf("the child running %s %s was killed after %v:\n%s", t.Name(), under, timeout, out.String())
	case err != nil:
		t.Fatalf("the child running %s %s failed (%v) after %v:\n%s", t.Name(), under, err, took.Round(time.Millisecond), out.String())
	case !bytes.Contains(out.Bytes(), []byte("--- PASS: "+t.Name())):
		t.Fatalf("the child ran no test called %s:\n%s", t.Name(), out.String())
	}
	t.Logf("passed in a child %s in %v", under, took.Round(time.Millisecond))
}
