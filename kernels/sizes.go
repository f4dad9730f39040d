package kernels

// Size arithmetic of the blocking of SGEMM and attention and of the split of vector calls into
// pool tasks. Arguments are non-negative and divisors positive.

// ceilDiv returns x/y rounded up: the number of blocks of y that cover x.
func ceilDiv(x, y int) int { return (x + y - 1) / y }

// roundUp returns the least multiple of to that is at least x.
func roundUp(x, to int) int { return (x + to - 1) / to * to }

// share returns part i of n of [0, total): parts differ in length by at most one.
func share(i, n, total int) (lo, hi int) { return i * total / n, (i + 1) * total / n }
