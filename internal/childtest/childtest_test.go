package childtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The child sees Child true and runs the test's first half; the parent passes when it does.
func TestRunLimitedPasses(t *testing.T) {
	if Child(t) {
		if os.Getenv(envKey) != t.Name() {
			t.Fatal("child without its marker")
		}
		return
	}
	RunLimited(t, 1<<30, 30*time.Second)
}

// A child that allocates past the limit fails, and the parent reports it (checked in a child of
// its own, whose failure is the expected outcome).
func TestRunLimitedCatchesAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("no address-space limit under the race detector")
	}
	if Child(t) {
		b := make([]byte, 2<<30) // past the 1 GB limit: the allocation fails and the child dies
		b[len(b)-1] = 1
		return
	}
	if os.Getenv("SEMPROX_CHILDTEST_MIDDLE") == "" {
		// This test in a middle process (not a Child), which runs RunLimited itself.
		cmd := exec.Command(os.Args[0], "-test.run", runPattern(t.Name()), "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "SEMPROX_CHILDTEST_MIDDLE=1")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "address-space limit failed") {
			t.Fatalf("a child allocating 2 GB under a 1 GB limit passed or failed otherwise: %v\n%s", err, out)
		}
		return
	}
	RunLimited(t, 1<<30, 30*time.Second)
}

func TestRunPattern(t *testing.T) {
	if got, want := runPattern("TestA/b.c_d"), `^TestA$/^b\.c_d$`; got != want {
		t.Errorf("runPattern = %q, want %q", got, want)
	}
}
