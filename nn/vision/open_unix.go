//go:build unix

package vision

import (
	"os"
	"syscall"
)

// openFlags opens without blocking: a named pipe that took the place of a checked file
// cannot stall Load.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK
