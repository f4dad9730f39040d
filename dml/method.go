package dml

import (
	"fmt"
	"strings"
)

// Method is a fine-tuning method of the paper's comparison, by name:
//
//	linear        the heads only (the backbone frozen)
//	bitfit        the heads and every bias of the backbone
//	adapter       the heads and bottleneck adapters (width 256) after the MLP of the last blocks
//	vpt           the heads and dataset prompts (VPT-deep)
//	vptsp-m       VPT plus semantic proxies from class prompts, memory updated by EMA
//	vptsp-g       the same with the GRU cell (the paper's method)
//	full          every weight of the backbone and the heads
//	proxy-anchor  full fine-tuning with plain learnable proxies (the Proxy-Anchor baseline)
//
// "+bitfit" after adapter, vpt or vptsp-* also trains every bias of the backbone.
type Method struct {
	Name   string
	BitFit bool
}

var methodNames = []string{"linear", "bitfit", "adapter", "vpt", "vptsp-m", "vptsp-g", "full", "proxy-anchor"}

// ParseMethod parses a method name such as "vptsp-g" or "vptsp-g+bitfit".
func ParseMethod(s string) (Method, error) {
	name, plus, _ := strings.Cut(s, "+")
	m := Method{Name: name}
	known := false
	for _, n := range methodNames {
		known = known || n == name
	}
	switch {
	case !known:
		return m, fmt.Errorf("dml: unknown method %q (known: %s, and vpt or vptsp-* with +bitfit)", s, strings.Join(methodNames, ", "))
	case plus == "bitfit" && (name == "adapter" || name == "vpt" || m.SemanticProxies()):
		m.BitFit = true
	case plus != "":
		return m, fmt.Errorf("dml: method %q: only adapter, vpt and vptsp-m/-g take +bitfit", s)
	}
	return m, nil
}

func (m Method) String() string {
	if m.BitFit {
		return m.Name + "+bitfit"
	}
	return m.Name
}

// Adapters reports whether the method inserts bottleneck adapters.
func (m Method) Adapters() bool { return m.Name == "adapter" }

// Prompts reports whether the method uses dataset prompts.
func (m Method) Prompts() bool { return m.Name == "vpt" || m.SemanticProxies() }

// SemanticProxies reports whether the proxies come from class prompts through a class memory.
func (m Method) SemanticProxies() bool { return m.Name == "vptsp-m" || m.Name == "vptsp-g" }

// TrainsBiases reports whether every bias of the backbone is trained.
func (m Method) TrainsBiases() bool { return m.Name == "bitfit" || m.BitFit || m.TrainsWeights() }

// TrainsWeights reports whether the backbone's weights are trained.
func (m Method) TrainsWeights() bool { return m.Name == "full" || m.Name == "proxy-anchor" }
