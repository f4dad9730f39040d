package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain keeps every test of the command off the network: the Hugging Face hub is offline and
// its cache, like the dataset cache, is a fresh empty directory, so a run that would download
// fails with the offline error instead. Tests that serve a fake hub set their own environment.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "semprox-train-test-")
	if err != nil {
		panic(err)
	}
	for name, value := range map[string]string{
		"HF_HUB_OFFLINE": "1",
		"HF_HUB_CACHE":   filepath.Join(dir, "hub"),
		"HF_HOME":        filepath.Join(dir, "hf-home"),
		"XDG_CACHE_HOME": filepath.Join(dir, "cache"),
		"HF_ENDPOINT":    "http://127.0.0.1:1", // nothing listens there
	} {
		os.Setenv(name, value)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
