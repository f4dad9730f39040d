// Package sysmem tells how much memory the machine has, so that commands can refuse a setting
// that could never fit instead of running until the system kills them.
package sysmem

// Total returns the machine's physical memory in bytes, or 0 where it cannot be known (then
// callers check nothing against it).
func Total() uint64 { return total() }
