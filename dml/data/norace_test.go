//go:build !race

package data

import "time"

// bombTimeout is how long a test of image bombs may take in its child process.
const bombTimeout = 5 * time.Second
