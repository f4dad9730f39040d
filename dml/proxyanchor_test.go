package dml

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/tensor"
)

const torchref = "../testdata/torchref"

func readNPY(t *testing.T, name string) *tensor.Tensor {
	t.Helper()
	x, err := tensor.ReadNPY(filepath.Join(torchref, name))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// closeTo fails unless max|got - want| <= rtol * max|want|.
func closeTo(t *testing.T, what string, got, want []float32, rtol float64) {
	t.Helper()
	worst, scale := 0.0, 0.0
	for i, w := range want {
		worst = max(worst, math.Abs(float64(got[i]-w)))
		scale = max(scale, math.Abs(float64(w)))
	}
	if !(worst <= rtol*scale) {
		t.Errorf("%s: max error %.3g exceeds %g of max %.3g", what, worst, rtol, scale)
	}
}

// The loss and its gradients match PyTorch's (torchref.py) in both normalisations; classes 3
// and 4 have no positives in that batch, so the two differ.
func TestProxyAnchorMatchesPyTorch(t *testing.T) {
	labels64, _, err := tensor.ReadNPYInts(filepath.Join(torchref, "pa_labels.npy"))
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]int, len(labels64))
	for i, l := range labels64 {
		labels[i] = int(l)
	}
	want := readNPY(t, "pa_loss.npy").Data() // [official, released code]
	for i, overAll := range []bool{false, true} {
		emb := autodiff.Param(readNPY(t, "pa_embeddings.npy"))
		proxies := autodiff.Param(readNPY(t, "pa_proxies.npy"))
		pa := DefaultProxyAnchor
		pa.PositivesOverAll = overAll
		tp := autodiff.NewTape()
		loss := pa.Loss(tp, emb, proxies, labels)
		closeTo(t, "loss", loss.Value.Data(), want[i:i+1], 1e-5)
		if overAll {
			continue
		}
		tp.Backward(loss)
		closeTo(t, "embedding gradient", emb.Grad().Data(), readNPY(t, "pa_grad_emb.npy").Data(), 1e-5)
		closeTo(t, "proxy gradient", proxies.Grad().Data(), readNPY(t, "pa_grad_proxies.npy").Data(), 1e-5)
	}
}

// Large similarities stay finite: alpha*(1+delta) = 35.2 per term, summed over many samples.
func TestProxyAnchorIsStable(t *testing.T) {
	const b, e = 64, 8
	x := tensor.New(b, e)
	for i := range b {
		x.Data()[i*e] = 1 // every embedding equals every proxy: cos = 1
	}
	p := tensor.New(2, e)
	p.Data()[0], p.Data()[e] = 1, 1
	labels := make([]int, b)
	tp := autodiff.NewTape()
	loss := DefaultProxyAnchor.Loss(tp, autodiff.Param(x), autodiff.Param(p), labels)
	if v := loss.Value.Data()[0]; math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		t.Fatalf("loss %v", v)
	}
	// Positive term: log(1 + 64 e^{-32*0.9}); negative (proxy 1, all 64 negatives): log(1 + 64 e^{35.2}).
	want := math.Log1p(64*math.Exp(-28.8)) + (math.Log1p(64*math.Exp(35.2))+math.Log1p(0))/2
	if got := float64(loss.Value.Data()[0]); math.Abs(got-want) > 1e-5*want {
		t.Errorf("loss %v, want %v", got, want)
	}
}

func TestProxyAnchorBadLabels(t *testing.T) {
	tp := autodiff.NewTape()
	x, p := autodiff.Constant(tensor.New(2, 4)), autodiff.Constant(tensor.New(3, 4))
	for _, c := range []struct {
		labels []int
		want   string
	}{{[]int{0, 3}, "labels[1] = 3"}, {[]int{0}, "1 labels for 2 embeddings"}} {
		func() {
			defer func() {
				if msg, _ := recover().(string); !strings.Contains(msg, c.want) {
					t.Errorf("labels %v: panic %q, want %q", c.labels, msg, c.want)
				}
			}()
			DefaultProxyAnchor.Loss(tp, x, p, c.labels)
		}()
	}
}
