package report

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Retrieval is one evaluation of the test split.
//
// In JSON a non-finite value (NaN, ±Inf) is written as null and null is read back as NaN: NMI is
// NaN when it was skipped.
type Retrieval struct {
	Ks         []int     `json:"ks"`     // e.g. 1,2,4,8
	Recall     []float64 `json:"recall"` // Recall@Ks[i], in [0,1]
	MAPAtR     float64   `json:"map_at_r"`
	RPrecision float64   `json:"r_precision"`
	NMI        float64   `json:"nmi"` // NaN when skipped
}

// evalJSON is the wire form of Eval: nil stands for a non-finite value.
type evalJSON struct {
	Ks         []int      `json:"ks"`
	Recall     []*float64 `json:"recall"`
	MAPAtR     *float64   `json:"map_at_r"`
	RPrecision *float64   `json:"r_precision"`
	NMI        *float64   `json:"nmi"`
}

// MarshalJSON writes e with non-finite values as null.
func (e Retrieval) MarshalJSON() ([]byte, error) {
	w := evalJSON{Ks: e.Ks, MAPAtR: finite(e.MAPAtR), RPrecision: finite(e.RPrecision), NMI: finite(e.NMI)}
	if e.Recall != nil {
		w.Recall = make([]*float64, len(e.Recall))
		for i, r := range e.Recall {
			w.Recall[i] = finite(r)
		}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads e, null (or a missing number) as NaN.
func (e *Retrieval) UnmarshalJSON(b []byte) error {
	var w evalJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = Retrieval{Ks: w.Ks, MAPAtR: orNaN(w.MAPAtR), RPrecision: orNaN(w.RPrecision), NMI: orNaN(w.NMI)}
	if w.Recall != nil {
		e.Recall = make([]float64, len(w.Recall))
		for i, r := range w.Recall {
			e.Recall[i] = orNaN(r)
		}
	}
	if len(e.Ks) != len(e.Recall) {
		return fmt.Errorf("%d ks for %d recall values", len(e.Ks), len(e.Recall))
	}
	return nil
}

// finite returns a pointer to x, or nil when x is NaN or infinite.
func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// orNaN returns *p, or NaN when p is nil.
func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// EvalLine formats e on one line:
//
//	R@1 0.9512  R@2 0.9701  R@4 0.9822  R@8 0.9901  MAP@R 0.7123  NMI 0.8012
//
// NMI is left out when it is NaN (skipped).
func EvalLine(e Retrieval) string {
	var parts []string
	for i, k := range e.Ks {
		if i < len(e.Recall) {
			parts = append(parts, fmt.Sprintf("R@%d %.4f", k, e.Recall[i]))
		}
	}
	parts = append(parts, fmt.Sprintf("MAP@R %.4f", e.MAPAtR))
	if !math.IsNaN(e.NMI) {
		parts = append(parts, fmt.Sprintf("NMI %.4f", e.NMI))
	}
	return strings.Join(parts, "  ")
}

// first returns the label K and the value of e's first recall (Recall@Ks[0]); ok is false when e
// has none.
func (e Retrieval) first() (k int, r float64, ok bool) {
	if len(e.Ks) == 0 || len(e.Recall) == 0 {
		return 0, 0, false
	}
	return e.Ks[0], e.Recall[0], true
}

// RecallAt returns Recall@k, or NaN when e has no such K.
func (e Retrieval) RecallAt(k int) float64 {
	for i, ki := range e.Ks {
		if ki == k && i < len(e.Recall) {
			return e.Recall[i]
		}
	}
	return math.NaN()
}
