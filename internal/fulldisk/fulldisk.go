// Package fulldisk gives tests a small file system of their own, to see what a program does when
// the disk fills up half way through a write.
package fulldisk

import (
	"fmt"
	"os/exec"
	"testing"
)

// Mount mounts a tmpfs of size bytes on a new temporary directory, returns the directory, and
// unmounts it when t ends. It skips t where tmpfs cannot be mounted (mount(8) is missing, or the
// test lacks the privilege).
func Mount(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a %d-byte tmpfs to fill (%v: %s); run the test as root to check a full disk", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Resize changes the size of the tmpfs that Mount mounted on dir (to free space, say).
func Resize(t *testing.T, dir string, size int64) {
	t.Helper()
	out, err := exec.Command("mount", "-o", fmt.Sprintf("remount,size=%d", size), dir).CombinedOutput()
	if err != nil {
		t.Fatalf("resizing the tmpfs on %s: %v: %s", dir, err, out)
	}
}
