package hub

import (
	"strings"
)

// DefaultRevision is the revision a reference without @REVISION names.
const DefaultRevision = "main"

// fileExtensions are the endings that make a name a file rather than a timm model's tag.
var fileExtensions = map[string]bool{
	"safetensors": true, "pth": true, "pt": true, "bin": true, "npz": true, "npy": true,
	"ckpt": true, "h5": true, "onnx": true, "msgpack": true, "pkl": true, "json": true,
	"gguf": true, "tar": true, "gz": true, "tgz": true, "zip": true, "txt": true, "yaml": true, "yml": true,
}

// ParseReference reads a model reference and returns its repository and revision:
//
//	vit_small_patch16_224.augreg_in21k        -> timm/vit_small_patch16_224.augreg_in21k, main
//	hf-hub:timm/vit_small_patch16_224.augreg_in21k -> the same
//	hf-hub:ORG/NAME@REV                       -> ORG/NAME, REV (a branch, tag or commit hash)
//	hf-hub:NAME                               -> NAME (a repository without an organisation)
//
// hf_hub: is accepted for hf-hub:, as timm accepts it. A bare timm name is letters, digits and _,
// a '.' and its pretrained tag (letters, digits and _); the tag is required, as timm's
// repositories are named with it, and a tag that is a file extension (.safetensors, .pth, .pt,
// .bin, .npz, .json ...) makes the name a file, not a reference. ok is false for anything else,
// file paths included. A name that is also an existing path is a reference all the same:
// callers that take both look on disk first.
func ParseReference(s string) (repo, revision string, ok bool) {
	if rest, found := cutPrefixFold(s, "hf-hub:"); found {
		return parseHubID(rest)
	}
	if rest, found := cutPrefixFold(s, "hf_hub:"); found {
		return parseHubID(rest)
	}
	arch, tag, found := strings.Cut(s, ".")
	if !found || !isWord(arch) || !isWord(tag) || fileExtensions[strings.ToLower(tag)] {
		return "", "", false
	}
	return "timm/" + s, DefaultRevision, true
}

// IsReference reports whether ParseReference accepts s. A path that exists on disk is never a
// reference to callers: they check the disk first, then IsReference.
func IsReference(s string) bool {
	_, _, ok := ParseReference(s)
	return ok
}

// parseHubID reads ORG/NAME[@REV] or NAME[@REV].
func parseHubID(s string) (repo, revision string, ok bool) {
	repo, revision = s, DefaultRevision
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		repo, revision = s[:i], s[i+1:]
		if !validRevision(revision) {
			return "", "", false
		}
	}
	if !validRepo(repo) {
		return "", "", false
	}
	return repo, revision, true
}

// validRepo checks a repository id as the hub does: NAME or ORG/NAME, each of letters, digits,
// '-', '_' and '.', not starting or ending with '-' or '.', with no "--" or "..", at most 96
// characters.
func validRepo(repo string) bool {
	if repo == "" || len(repo) > 96 || strings.Contains(repo, "--") || strings.Contains(repo, "..") {
		return false
	}
	parts := strings.Split(repo, "/")
	if len(parts) > 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.IndexAny(p[:1], "-.") == 0 || strings.IndexAny(p[len(p)-1:], "-.") == 0 {
			return false
		}
		for _, r := range p {
			if !isWordRune(r) && r != '-' && r != '.' {
				return false
			}
		}
	}
	return true
}

// validRevision checks a revision: a branch, tag or commit, with no spaces, control characters
// or ".." (a revision becomes a path under refs/).
func validRevision(rev string) bool {
	if rev == "" || strings.Contains(rev, "..") || strings.HasPrefix(rev, "/") || strings.HasSuffix(rev, "/") {
		return false
	}
	for _, r := range rev {
		if r <= ' ' || r == 0x7f || r == '\\' {
			return false
		}
	}
	return true
}

// isWord reports whether s is a non-empty run of ASCII letters, digits and '_'.
func isWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !isWordRune(r) {
			return false
		}
	}
	return true
}

func isWordRune(r rune) bool {
	return r == '_' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
