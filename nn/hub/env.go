package hub

import (
	"os"
	"path/filepath"
	"strings"
)

// DefaultEndpoint is the hub's address when HF_ENDPOINT is not set.
const DefaultEndpoint = "https://huggingface.co"

// FromEnv returns a Client configured as huggingface_hub configures itself:
//
//   - Endpoint: HF_ENDPOINT, else https://huggingface.co.
//   - Token: HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN), else the token file that
//     `hf auth login` writes: HF_TOKEN_PATH, else $HF_HOME/token. Surrounding spaces are dropped.
//   - CacheDir: see [DefaultCacheDir].
//   - Offline: HF_HUB_OFFLINE set to 1, true, yes or on (any case).
//
// HTTP and Progress are left nil: the defaults of [Client].
func FromEnv() *Client {
	c := &Client{
		Endpoint: strings.TrimRight(os.Getenv("HF_ENDPOINT"), "/"),
		Token:    envToken(),
		CacheDir: DefaultCacheDir(),
		Offline:  isTrue(os.Getenv("HF_HUB_OFFLINE")),
	}
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	return c
}

// HFHome is huggingface_hub's home directory: HF_HOME, else $XDG_CACHE_HOME/huggingface, else
// ~/.cache/huggingface. A leading ~ is the user's home directory.
func HFHome() string {
	if h := os.Getenv("HF_HOME"); h != "" {
		return expandHome(h)
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(expandHome(x), "huggingface")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".cache", "huggingface")
}

// DefaultCacheDir is the hub cache huggingface_hub uses: HF_HUB_CACHE (or the older
// HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub (see [HFHome]).
func DefaultCacheDir() string {
	for _, v := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if d := os.Getenv(v); d != "" {
			return expandHome(d)
		}
	}
	return filepath.Join(HFHome(), "hub")
}

// tokenPath is the token file huggingface_hub reads: HF_TOKEN_PATH, else $HF_HOME/token.
func tokenPath() string {
	if p := os.Getenv("HF_TOKEN_PATH"); p != "" {
		return expandHome(p)
	}
	return filepath.Join(HFHome(), "token")
}

// envToken is the token from the environment or the token file, "" when there is none.
func envToken() string {
	for _, v := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		if t := strings.TrimSpace(os.Getenv(v)); t != "" {
			return t
		}
	}
	b, err := os.ReadFile(tokenPath())
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// isTrue reads a boolean environment variable as huggingface_hub does.
func isTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// expandHome replaces a leading ~ by the user's home directory.
func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") || strings.HasPrefix(p, `~\`) {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}
