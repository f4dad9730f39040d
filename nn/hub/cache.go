package hub

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/semprox/semprox/internal/atomicfile"
)

// repoCache is one repository's folder in the hub cache: models--{org}--{name}.
type repoCache struct {
	root string // the cache directory
	name string // models--{org}--{name}
}

func newRepoCache(cacheDir, repo string) repoCache {
	return repoCache{root: cacheDir, name: RepoFolder(repo)}
}

// RepoFolder is the name of a model repository's folder in the hub cache: models--{org}--{name}
// ("models--timm--vit_small_patch16_224.augreg_in21k").
func RepoFolder(repo string) string {
	return "models--" + strings.ReplaceAll(repo, "/", "--")
}

func (r repoCache) dir() string { return filepath.Join(r.root, r.name) }

// pointer is the path of filename at commit: snapshots/{commit}/{filename}.
func (r repoCache) pointer(commit, filename string) string {
	return filepath.Join(r.dir(), "snapshots", commit, filepath.FromSlash(filename))
}

// blob is the path of the content whose etag is etag: blobs/{etag}.
func (r repoCache) blob(etag string) string { return filepath.Join(r.dir(), "blobs", etag) }

// ref is the file that holds the commit of revision: refs/{revision}.
func (r repoCache) ref(revision string) string {
	return filepath.Join(r.dir(), "refs", filepath.FromSlash(revision))
}

// lock is the lock file of a download of etag, where huggingface_hub puts it.
func (r repoCache) lock(etag string) string {
	return filepath.Join(r.root, ".locks", r.name, etag+".lock")
}

// lookup finds filename at revision in the cache without the network: revision is a commit,
// or refs/{revision} names one, and snapshots/{commit}/{filename} resolves to a file. It
// returns the path it looked for (the ref file when there is no ref).
func (r repoCache) lookup(revision, filename string) (path, commit string, ok bool) {
	commit = revision
	if !isCommit(revision) {
		b, err := os.ReadFile(r.ref(revision))
		if err != nil {
			return r.ref(revision), "", false
		}
		commit = strings.TrimSpace(string(b))
		if !isCommitLike(commit) {
			return r.ref(revision), "", false
		}
	}
	path = r.pointer(commit, filename)
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		return path, commit, false
	}
	return path, commit, true
}

// writeRef records that revision points at commit, as huggingface_hub does (the hash, no
// newline). A commit is its own revision and needs no ref.
func (r repoCache) writeRef(revision, commit string) error {
	if revision == commit {
		return nil
	}
	p := r.ref(revision)
	if b, err := os.ReadFile(p); err == nil && string(bytes.TrimSpace(b)) == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, []byte(commit))
}

// link makes pointer a relative symbolic link to blob (../../blobs/{etag}, deeper for a file in
// a subfolder), replacing what was there; where the system cannot make the link it copies the
// blob instead.
func link(blob, pointer string) error {
	dir := filepath.Dir(pointer)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(dir, blob)
	if err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", pointer, os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err == nil {
		if err := os.Rename(tmp, pointer); err != nil {
			os.Remove(tmp)
			return err
		}
		return nil
	}
	return atomicfile.Write(pointer, func(w io.Writer) error {
		f, err := os.Open(blob)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
}

// isCommit reports whether s is a full commit hash: 40 lowercase hex digits.
func isCommit(s string) bool {
	return len(s) == 40 && isLowerHex(s)
}

// isSHA256 reports whether s is a sha256 in hex: 64 hex digits.
func isSHA256(s string) bool {
	return len(s) == 64 && isLowerHex(strings.ToLower(s))
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9') && !('a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isCommitLike reports whether s can name a snapshot folder: letters and digits only, so that a
// header or a ref file cannot lead outside the cache.
func isCommitLike(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9') && !('a' <= r && r <= 'z') && !('A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}

// isEtagLike reports whether s can name a blob: letters, digits, '-' and '_'.
func isEtagLike(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if !isWordRune(r) && r != '-' {
			return false
		}
	}
	return true
}
