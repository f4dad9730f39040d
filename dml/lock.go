package dml

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// lockFile, in a run directory, is held locked by the process that trains into it.
const lockFile = ".lock"

// errLocked is tryLock's answer when another process holds the lock.
var errLocked = errors.New("locked by another process")

// lockRun locks the run directory dir for the life of this process (or until the returned file
// is closed), so that two processes never train into one directory. The lock file records the
// holder's process id for the message the second one gets.
func lockRun(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := tryLock(f); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("%s is in use by another training process (pid %s, holding %s); wait for it to end or choose another -out", dir, bytes.TrimSpace(holder), path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
