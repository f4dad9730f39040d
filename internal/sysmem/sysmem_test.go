package sysmem

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Total agrees with MemTotal of /proc/meminfo on Linux.
func TestTotal(t *testing.T) {
	if runtime.GOOS != "linux" {
		if Total() != 0 {
			t.Errorf("Total() = %d on %s, want 0 (unknown)", Total(), runtime.GOOS)
		}
		return
	}
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skip(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
			if got := Total(); got != kb<<10 {
				t.Errorf("Total() = %d, MemTotal %d kB", got, kb)
			}
			return
		}
	}
	t.Skip("no MemTotal in /proc/meminfo")
}
