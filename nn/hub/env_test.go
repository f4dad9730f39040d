package hub

import (
	"os"
	"path/filepath"
	"testing"
)

// clearEnv unsets, for the test, every variable FromEnv reads, and points HOME at an empty
// directory it returns.
func clearEnv(t *testing.T) string {
	home := t.TempDir()
	for _, v := range []string{"HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HOME",
		"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "XDG_CACHE_HOME"} {
		t.Setenv(v, "")
	}
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	return home
}

func TestFromEnvDefaults(t *testing.T) {
	home := clearEnv(t)
	c := FromEnv()
	want := Client{Endpoint: "https://huggingface.co", CacheDir: filepath.Join(home, ".cache", "huggingface", "hub")}
	if *c != want {
		t.Errorf("FromEnv = %+v, want %+v", *c, want)
	}
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "xdg"))
	if got := FromEnv().CacheDir; got != filepath.Join(home, "xdg", "huggingface", "hub") {
		t.Errorf("with XDG_CACHE_HOME: cache %s", got)
	}
}

func TestFromEnv(t *testing.T) {
	home := clearEnv(t)
	t.Setenv("HF_ENDPOINT", "http://mirror.example/")
	t.Setenv("HF_HOME", filepath.Join(home, "hf"))
	t.Setenv("HF_HUB_OFFLINE", "1")
	t.Setenv("HF_TOKEN", " hf_abc \n")
	c := FromEnv()
	want := Client{Endpoint: "http://mirror.example", Token: "hf_abc", CacheDir: filepath.Join(home, "hf", "hub"), Offline: true}
	if *c != want {
		t.Errorf("FromEnv = %+v, want %+v", *c, want)
	}

	t.Setenv("HF_HUB_CACHE", filepath.Join(home, "cache"))
	if got := FromEnv().CacheDir; got != filepath.Join(home, "cache") {
		t.Errorf("HF_HUB_CACHE: cache %s", got)
	}
	t.Setenv("HF_HUB_CACHE", "~/c2")
	if got := FromEnv().CacheDir; got != filepath.Join(home, "c2") {
		t.Errorf("HF_HUB_CACHE with ~: cache %s", got)
	}

	// The token file under HF_HOME, as `hf auth login` writes it.
	t.Setenv("HF_TOKEN", "")
	if got := FromEnv().Token; got != "" {
		t.Errorf("no token anywhere: token %q", got)
	}
	os.MkdirAll(filepath.Join(home, "hf"), 0o755)
	if err := os.WriteFile(filepath.Join(home, "hf", "token"), []byte("hf_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := FromEnv().Token; got != "hf_file" {
		t.Errorf("token file: token %q", got)
	}
	t.Setenv("HF_TOKEN", "hf_env")
	if got := FromEnv().Token; got != "hf_env" {
		t.Errorf("HF_TOKEN over the file: token %q", got)
	}
}

func TestFromEnvOffline(t *testing.T) {
	clearEnv(t)
	for v, want := range map[string]bool{"1": true, "true": true, "TRUE": true, "yes": true, "On": true,
		"0": false, "false": false, "no": false, "": false, "off": false} {
		t.Setenv("HF_HUB_OFFLINE", v)
		if got := FromEnv().Offline; got != want {
			t.Errorf("HF_HUB_OFFLINE=%q: Offline %v", v, got)
		}
	}
}
