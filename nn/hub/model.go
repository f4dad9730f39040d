package hub

import (
	"context"
	"errors"
	"fmt"
)

// Weight files a model repository is read from, in order of preference.
const (
	SafetensorsFile = "model.safetensors"
	PyTorchFile     = "pytorch_model.bin"
	ConfigFile      = "config.json"
)

// Model is a model repository's files in the cache.
type Model struct {
	Repo     string // e.g. timm/vit_small_patch16_224.augreg_in21k
	Revision string // the revision asked for, e.g. main
	Commit   string // the commit the files are of
	// WeightsPath is model.safetensors, or pytorch_model.bin when the repository has no
	// safetensors file: the path in snapshots/{commit}/.
	WeightsPath string
	// ConfigPath is config.json, "" when there is none: when the repository has none, or when
	// the hub cannot be asked (offline, unreachable) and the cache holds the weights but not
	// config.json (timm in Python fetches only the weights of a bare model name). Config is
	// then zero.
	ConfigPath string
	Config     PretrainedConfig
}

// Model fetches the weights and config.json of the model ref names (see [ParseReference]) into
// the cache, and reads the config. The weights are model.safetensors, else, when the repository
// has none, pytorch_model.bin.
func (c *Client) Model(ctx context.Context, ref string) (*Model, error) {
	repo, revision, ok := ParseReference(ref)
	if !ok {
		return nil, fmt.Errorf("%q is not a model on the hub: give a timm model name with its tag (vit_small_patch16_224.augreg_in21k) or hf-hub:ORG/NAME[@REVISION]", ref)
	}
	m := &Model{Repo: repo, Revision: revision}
	// Once the hub fails to answer, the other files come from the cache without asking it again.
	var unreachable error
	get := func(revision, filename string) (resolved, error) {
		r, err := c.file(ctx, repo, revision, filename, unreachable)
		var he *hubError
		switch {
		case unreachable != nil:
		case r.unreachable != nil:
			unreachable = r.unreachable
		case errors.As(err, &he) && he.kind == errUnreachable:
			unreachable = he.cause
		}
		return r, err
	}
	cfg, cfgErr := get(revision, ConfigFile)
	if cfgErr != nil && !isKind(cfgErr, errNoFile, errOffline, errUnreachable) {
		return nil, cfgErr
	}
	w, err := get(revision, SafetensorsFile)
	if err != nil && isKind(err, errNoFile, errOffline, errUnreachable) {
		w2, err2 := get(revision, PyTorchFile)
		var he *hubError
		switch {
		case err2 == nil:
			w, err = w2, nil
		case isKind(err, errNoFile) && isKind(err2, errNoFile) && errors.As(err, &he):
			he.file = SafetensorsFile + " or " + PyTorchFile
		case !isKind(err, errNoFile) && isKind(err2, errOffline, errUnreachable) && errors.As(err, &he):
			he.file = SafetensorsFile + " (or " + PyTorchFile + ")"
		}
	}
	if err != nil {
		return nil, err
	}
	m.WeightsPath, m.Commit = w.path, w.commit
	if cfgErr == nil && cfg.commit != w.commit {
		// The branch moved between the two requests: take config.json of the weights' commit.
		cfg, cfgErr = get(w.commit, ConfigFile)
		if cfgErr != nil && !isKind(cfgErr, errNoFile, errOffline, errUnreachable) {
			return nil, cfgErr
		}
	}
	if cfgErr == nil {
		m.ConfigPath = cfg.path
		if m.Config, err = ReadConfig(cfg.path); err != nil {
			return nil, fmt.Errorf("model %s: %w", repo, err)
		}
	}
	if unreachable != nil {
		c.note(fmt.Sprintf("%s: the hub cannot be reached (%v); using the cached files of commit %s", repo, unreachable, short(m.Commit)))
	}
	return m, nil
}

// isKind reports whether err is a hubError of one of kinds.
func isKind(err error, kinds ...errKind) bool {
	var he *hubError
	if !errors.As(err, &he) {
		return false
	}
	for _, k := range kinds {
		if he.kind == k {
			return true
		}
	}
	return false
}
