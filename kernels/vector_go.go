package kernels

import "math"

// The plain Go versions of the vector kernels: the fallback where there is no assembly, and the
// reference the assembly is tested against. exp and GELU follow the assembly step by step
// (fma32 where it fuses a multiply-add), so both give the same bits; the algorithms are stated
// in _asm/vector/main.go. The constants must equal those of _asm/vector/consts.go.

const (
	expLo = float32(-105)
	expHi = float32(89)
	log2e = float32(1.44269504088896341)
	ln2Hi = float32(0.693147182464599609375)
	ln2Lo = float32(math.Ln2 - 0.693147182464599609375)

	geluClamp  = float32(20)
	geluK      = float32(0.3125)
	invSqrt2Pi = float32(0.398942280401432677939946059934)
)

// expPoly holds c1..c6 of e^r ~ 1 + c1 r + ... + c6 r^6.
var expPoly = [...]float32{1.0, 0.4999999403953552, 0.1666651964187622, 0.04166829213500023, 0.008368907496333122, 0.0013819169253110886}

// geluPoly holds s0..s9 of Q(a) ~ exp(-a*a/2) t (s0 + s1 t + ... + s9 t^9), t = 1/(1 + geluK a).
var geluPoly = [...]float32{0.12465531378984451, 0.12494631111621857, 0.11026442050933838, 0.09755975008010864, 0.03424862399697304, 0.03647663816809654, 0.02818378247320652, -0.11711069196462631, 0.07722800970077515, -0.016452161595225334}

// fma32 is a*b + c with one rounding to float32 (the product of two float32s is exact in
// float64, so only the sum rounds twice, and that almost never matters).
func fma32(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// pow2f is 2^k for k in [-126, 127].
func pow2f(k int32) float32 { return math.Float32frombits(uint32(k+127) << 23) }

// expParts is exp(hi + lo) for hi in [expLo, expHi] (or NaN) and lo small against hi.
func expParts(hi, lo float32) float32 {
	if hi != hi {
		return hi
	}
	n := float32(math.RoundToEven(float64(hi * log2e)))
	r := fma32(n, -ln2Hi, hi)
	r += lo
	r = fma32(n, -ln2Lo, r)
	p := expPoly[5]
	for i := 4; i >= 0; i-- {
		p = fma32(p, r, expPoly[i])
	}
	p = fma32(p, r, 1)
	k := int32(n)
	return p * pow2f(k>>1) * pow2f(k-k>>1)
}

// exp32 is e^x in float32, within 2 ulp.
func exp32(x float32) float32 {
	if x < expLo {
		x = expLo
	}
	if x > expHi {
		x = expHi
	}
	return expParts(x, 0)
}

// geluTail returns a = min(|x|, geluClamp), e = exp(-a*a/2) and q = Q(a) = 0.5 erfc(a/sqrt2).
func geluTail(x float32) (a, e, q float32) {
	a = float32(math.Abs(float64(x)))
	if a > geluClamp {
		a = geluClamp
	}
	b := -0.5 * a
	hi := a * b
	lo := fma32(a, b, -hi)
	if hi < expLo {
		hi = expLo
	}
	e = expParts(hi, lo)
	t := 1 / fma32(a, geluK, 1)
	q = geluPoly[9]
	for i := 8; i >= 0; i-- {
		q = fma32(q, t, geluPoly[i])
	}
	q = q * t * e
	return a, e, q
}

// gelu32 is GELU(x) = x Phi(x) = max(x, 0) - |x| Q(|x|).
func gelu32(x float32) float32 {
	a, _, q := geluTail(x)
	relu := x
	if x < 0 {
		relu = 0
	}
	return fma32(-a, q, relu)
}

// geluGrad32 is GELU'(x) = Phi(x) + x phi(x).
func geluGrad32(x float32) float32 {
	_, e, q := geluTail(x)
	phi := e * invSqrt2Pi
	cdf := 1 - q
	if math.Signbit(float64(x)) {
		cdf = q
	}
	xc := min(max(x, -geluClamp), geluClamp)
	return fma32(xc, phi, cdf)
}

func addGo(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

func scaleGo(dst []float32, alpha float32, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] = alpha * x[i]
	}
}

func axpyGo(alpha float32, x, y []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += alpha * x[i]
	}
}

// addScaledMulGo sets dst = (a + s*b) * t.
func addScaledMulGo(dst, a, b []float32, s, t float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = (a[i] + s*b[i]) * t
	}
}

func sumGo(x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i]
		s1 += x[i+1]
		s2 += x[i+2]
		s3 += x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotGo(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func maxGo(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m {
			m = v
		} else if v != v {
			return v
		}
	}
	return m
}

func expGo(dst, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] = exp32(x[i])
	}
}

func expSumGo(dst, x []float32, shift float32) float32 {
	x = x[:len(dst)]
	var s float32
	for i := range dst {
		e := exp32(x[i] - shift)
		dst[i] = e
		s += e
	}
	return s
}

func geluGo(dst, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] = gelu32(x[i])
	}
}

func geluBackwardGo(dx, dy, x []float32) {
	dy, x = dy[:len(dx)], x[:len(dx)]
	for i := range dx {
		dx[i] = dy[i] * geluGrad32(x[i])
	}
}

// biasGELUGo sets pre = dst + bias (when pre is not nil) and dst = GELU(dst + bias).
func biasGELUGo(dst, pre, bias []float32) {
	bias = bias[:len(dst)]
	for i := range dst {
		v := dst[i] + bias[i]
		if pre != nil {
			pre[i] = v
		}
		dst[i] = gelu32(v)
	}
}

// layerNormGo normalizes the rows of x (cols > 0), as layerNorm in the assembly.
func layerNormGo(y, mean, rstd, x, gamma, beta []float32, cols int, eps float32) {
	gamma, beta = gamma[:cols], beta[:cols]
	for r := range mean {
		xr, yr := x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
		m := sumGo(xr) / float32(cols)
		var ss float32
		for _, v := range xr {
			d := v - m
			ss = fma32(d, d, ss)
		}
		s := 1 / float32(math.Sqrt(float64(ss/float32(cols)+eps)))
		mean[r], rstd[r] = m, s
		for j, v := range xr {
			yr[j] = fma32(gamma[j], (v-m)*s, beta[j])
		}
	}
}

// layerNormBackwardGo is the gradient of layerNormGo; it adds to dgamma and dbeta.
func layerNormBackwardGo(dx, dgamma, dbeta, dy, x, mean, rstd, gamma []float32, cols int) {
	dgamma, dbeta, gamma = dgamma[:cols], dbeta[:cols], gamma[:cols]
	for r := range mean {
		xr, dyr, dxr := x[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], dx[r*cols:(r+1)*cols]
		m, s := mean[r], rstd[r]
		var s1, s2 float32
		for j, v := range xr {
			xh := (v - m) * s
			g := dyr[j] * gamma[j]
			s1 += g
			s2 = fma32(g, xh, s2)
			dgamma[j] = fma32(dyr[j], xh, dgamma[j])
			dbeta[j] += dyr[j]
		}
		m1, m2 := s1/float32(cols), s2/float32(cols)
		for j, v := range xr {
			xh := (v - m) * s
			g := dyr[j]*gamma[j] - m1
			dxr[j] = fma32(-xh, m2, g) * s
		}
	}
}
