//go:build race

package data

import "time"

// bombTimeout is how long a test of image bombs may take in its child process: the race
// detector slows decoding some twenty times (and runs the child without the memory limit).
const bombTimeout = 30 * time.Second
