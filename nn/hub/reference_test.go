package hub

import "testing"

func TestParseReference(t *testing.T) {
	for _, c := range []struct {
		in, repo, revision string
		ok                 bool
	}{
		{"vit_small_patch16_224.augreg_in21k", "timm/vit_small_patch16_224.augreg_in21k", "main", true},
		{"vit_base_patch16_224.augreg2_in21k_ft_in1k", "timm/vit_base_patch16_224.augreg2_in21k_ft_in1k", "main", true},
		{"hf-hub:timm/vit_small_patch16_224.augreg_in21k", "timm/vit_small_patch16_224.augreg_in21k", "main", true},
		{"hf_hub:timm/vit_small_patch16_224.augreg_in21k", "timm/vit_small_patch16_224.augreg_in21k", "main", true},
		{"hf-hub:timm/x@abc123", "timm/x", "abc123", true},
		{"hf-hub:facebook/dinov2-small@refs/pr/1", "facebook/dinov2-small", "refs/pr/1", true},
		{"hf-hub:gpt2", "gpt2", "main", true},
		{"HF-HUB:org/name", "org/name", "main", true},
		{"hf-hub:", "", "", false},
		{"hf-hub:org/", "", "", false},
		{"hf-hub:a/b/c", "", "", false},
		{"hf-hub:org/na--me", "", "", false},
		{"hf-hub:org/-name", "", "", false},
		{"hf-hub:org/name@", "", "", false},
		{"hf-hub:org/name@../x", "", "", false},
		{"hf-hub:org/na me", "", "", false},
		{"vit_small_patch16_224", "", "", false}, // no tag
		{"vit_small_patch16_224.", "", "", false},
		{".augreg", "", "", false},
		{"a.b.c", "", "", false},
		{"model.safetensors", "", "", false},
		{"vit.pth", "", "", false},
		{"vit.PT", "", "", false},
		{"pytorch_model.bin", "", "", false},
		{"augreg.npz", "", "", false},
		{"config.json", "", "", false},
		{"runs/best.safetensors", "", "", false},
		{"./vit_small.augreg", "", "", false},
		{"/tmp/vit_small.augreg", "", "", false},
		{"timm/vit_small_patch16_224.augreg_in21k", "", "", false}, // ORG/NAME without hf-hub: is a path
		{"vit-small.augreg", "", "", false},
		{"embedded", "", "", false},
		{"", "", "", false},
	} {
		repo, rev, ok := ParseReference(c.in)
		if repo != c.repo || rev != c.revision || ok != c.ok {
			t.Errorf("ParseReference(%q) = %q, %q, %v; want %q, %q, %v", c.in, repo, rev, ok, c.repo, c.revision, c.ok)
		}
		if IsReference(c.in) != c.ok {
			t.Errorf("IsReference(%q) = %v", c.in, !c.ok)
		}
	}
}

func TestRepoFolder(t *testing.T) {
	if got := RepoFolder("timm/vit_small_patch16_224.augreg_in21k"); got != "models--timm--vit_small_patch16_224.augreg_in21k" {
		t.Errorf("RepoFolder = %q", got)
	}
	if got := RepoFolder("gpt2"); got != "models--gpt2" {
		t.Errorf("RepoFolder = %q", got)
	}
}

func TestFileURL(t *testing.T) {
	c := &Client{Endpoint: "https://hf.example/"}
	if got, want := c.fileURL("org/m", "refs/pr/1", "sub dir/w.safetensors"), "https://hf.example/org/m/resolve/refs%2Fpr%2F1/sub%20dir/w.safetensors"; got != want {
		t.Errorf("fileURL = %q, want %q", got, want)
	}
}
