package hubtest

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a fake hub and its CDN. Its methods may be called while it serves.
type Server struct {
	URL    string // the hub's endpoint, http://127.0.0.1:PORT: set HF_ENDPOINT to it
	CDNURL string // the CDN, http://localhost:PORT: another host, so clients drop Authorization on the redirect

	hub, cdn *httptest.Server
	t        testing.TB

	mu      sync.Mutex
	repos   map[string]*repo
	gates   map[string]string // repo -> the token it wants
	cuts    map[string]int    // repo/file -> bytes to send before cutting the next GET
	corrupt map[string]bool   // repo/file -> serve bytes that do not match the sha256
	stats   Stats
}

type repo struct {
	commit string
	files  map[string][]byte
}

// Stats counts the requests a Server answered.
type Stats struct {
	Head, Get int // HEAD and GET requests the hub answered (errors included)
	CDN       int // requests the CDN answered
	// CDNRanges holds the Range header of each CDN request, "" when it had none.
	CDNRanges []string
	// CDNAuthorization holds the Authorization header of each CDN request: a client that
	// follows the redirect to another host sends none.
	CDNAuthorization []string
	// HubAuthorization holds the Authorization header of each hub request.
	HubAuthorization []string
}

// Requests is the number of requests the hub and the CDN answered.
func (s Stats) Requests() int { return s.Head + s.Get + s.CDN }

// New starts a fake hub serving repos (repository -> file name -> content) and its CDN, closed
// when t's test ends. A repository is ORG/NAME or NAME; file names may hold '/'.
func New(t testing.TB, repos map[string]map[string][]byte) *Server {
	s := &Server{t: t, repos: map[string]*repo{}, gates: map[string]string{}, cuts: map[string]int{}, corrupt: map[string]bool{}}
	for name, files := range repos {
		s.setRepo(name, files)
	}
	s.hub = httptest.NewServer(http.HandlerFunc(s.serveHub))
	s.cdn = httptest.NewServer(http.HandlerFunc(s.serveCDN))
	s.URL = s.hub.URL
	s.CDNURL = strings.Replace(s.cdn.URL, "127.0.0.1", "localhost", 1)
	t.Cleanup(s.Close)
	return s
}

// Close stops both servers; later requests fail to connect. It may be called more than once.
func (s *Server) Close() {
	s.hub.Close()
	s.cdn.Close()
}

// IsLarge reports whether the hub serves filename as a large (Git LFS) file: sha256 etag and a
// redirect to the CDN. Weight files are large: .safetensors, .bin, .pth, .pt, .npz, .onnx, .h5,
// .msgpack, .ckpt, .gguf.
func IsLarge(filename string) bool {
	switch strings.ToLower(path.Ext(filename)) {
	case ".safetensors", ".bin", ".pth", ".pt", ".npz", ".onnx", ".h5", ".msgpack", ".ckpt", ".gguf":
		return true
	}
	return false
}

// Put sets a file of a repository (creating either), which gives the repository a new commit:
// main moves to it, and the old commit is no longer served.
func (s *Server) Put(repoName, filename string, content []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	files := map[string][]byte{}
	if r := s.repos[repoName]; r != nil {
		for f, b := range r.files {
			files[f] = b
		}
	}
	files[filename] = content
	s.setRepo(repoName, files)
}

func (s *Server) setRepo(name string, files map[string][]byte) {
	h := sha1.New()
	fmt.Fprintf(h, "repo %s\n", name)
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)
	r := &repo{files: map[string][]byte{}}
	for _, f := range names {
		r.files[f] = files[f]
		fmt.Fprintf(h, "%s %s\n", f, ETag(f, files[f]))
	}
	r.commit = hex.EncodeToString(h.Sum(nil))
	s.repos[name] = r
}

// Commit is the commit hash the repository's answers carry ("" for an unknown repository).
func (s *Server) Commit(repoName string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repos[repoName]; r != nil {
		return r.commit
	}
	return ""
}

// ETag is the etag the hub gives a file: the sha256 of a large file's content, the git blob
// hash (sha1 of "blob {size}\x00" and the content) of a small one; hex, without quotes.
func ETag(filename string, content []byte) string {
	if IsLarge(filename) {
		sum := sha256.Sum256(content)
		return hex.EncodeToString(sum[:])
	}
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// Gate makes a repository gated: requests without "Authorization: Bearer token" are answered
// 401, those with another token 403 (X-Error-Code GatedRepo).
func (s *Server) Gate(repoName, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gates[repoName] = token
}

// CutOnce makes the next GET of a file's content (at the CDN for a large file) send the headers
// and after bytes of the body, then close the connection.
func (s *Server) CutOnce(repoName, filename string, after int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cuts[repoName+"/"+filename] = after
}

// Corrupt makes the CDN serve a large file with its first byte changed: the size is right, the
// sha256 the hub announces is not.
func (s *Server) Corrupt(repoName, filename string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corrupt[repoName+"/"+filename] = true
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.CDNRanges = append([]string(nil), st.CDNRanges...)
	st.CDNAuthorization = append([]string(nil), st.CDNAuthorization...)
	st.HubAuthorization = append([]string(nil), st.HubAuthorization...)
	return st
}

// ResetStats sets the counts to zero.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{}
}

// hubError answers an error as the hub does, with X-Error-Code and X-Error-Message.
func hubError(w http.ResponseWriter, code int, errCode, msg string) {
	w.Header().Set("X-Error-Code", errCode)
	w.Header().Set("X-Error-Message", msg)
	http.Error(w, msg, code)
}

// serveHub answers HEAD and GET of /{repo}/resolve/{revision}/{filename}.
func (s *Server) serveHub(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	switch r.Method {
	case http.MethodHead:
		s.stats.Head++
	case http.MethodGet:
		s.stats.Get++
	}
	s.stats.HubAuthorization = append(s.stats.HubAuthorization, r.Header.Get("Authorization"))
	s.mu.Unlock()
	if r.Method != http.MethodHead && r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.EscapedPath()
	i := strings.Index(p, "/resolve/")
	if i <= 0 {
		hubError(w, http.StatusNotFound, "EntryNotFound", "not a resolve URL")
		return
	}
	repoName, err1 := url.PathUnescape(p[1:i])
	revEsc, fileEsc, _ := strings.Cut(p[i+len("/resolve/"):], "/")
	rev, err2 := url.PathUnescape(revEsc)
	file, err3 := url.PathUnescape(fileEsc)
	if err1 != nil || err2 != nil || err3 != nil || file == "" {
		hubError(w, http.StatusBadRequest, "BadRequest", "bad resolve URL")
		return
	}

	s.mu.Lock()
	rp := s.repos[repoName]
	token, gated := s.gates[repoName]
	var content []byte
	var commit string
	var found bool
	if rp != nil {
		commit = rp.commit
		content, found = rp.files[file]
	}
	cut, cutting := s.cuts[repoName+"/"+file]
	if cutting && r.Method == http.MethodGet && found && !IsLarge(file) {
		delete(s.cuts, repoName+"/"+file)
	}
	s.mu.Unlock()

	if rp == nil {
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return
	}
	if gated {
		switch auth := r.Header.Get("Authorization"); {
		case auth == "":
			hubError(w, http.StatusUnauthorized, "GatedRepo", "Access to model "+repoName+" is restricted. You must be authenticated to access it.")
			return
		case auth != "Bearer "+token:
			hubError(w, http.StatusForbidden, "GatedRepo", "Access to model "+repoName+" is restricted and you are not in the authorized list.")
			return
		}
	}
	if rev != "main" && rev != commit {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	w.Header().Set("X-Repo-Commit", commit)
	if !found {
		hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	etag := ETag(file, content)
	if IsLarge(file) {
		w.Header().Set("X-Linked-Etag", `"`+etag+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(content)))
		w.Header().Set("ETag", `"`+etag+`"`)
		q := url.Values{"repo": {repoName}, "file": {file}, "Signature": {"fake"}}
		w.Header().Set("Location", s.CDNURL+"/lfs/"+etag+"?"+q.Encode())
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+etag+`"`)
	if cutting && r.Method == http.MethodGet {
		s.cut(w, r, content, cut)
		return
	}
	http.ServeContent(w, r, path.Base(file), time.Time{}, bytes.NewReader(content))
}

// serveCDN answers GET /lfs/{sha256}?repo=...&file=... with Range support.
func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	key := q.Get("repo") + "/" + q.Get("file")
	s.mu.Lock()
	s.stats.CDN++
	s.stats.CDNRanges = append(s.stats.CDNRanges, r.Header.Get("Range"))
	s.stats.CDNAuthorization = append(s.stats.CDNAuthorization, r.Header.Get("Authorization"))
	var content []byte
	found := false
	if rp := s.repos[q.Get("repo")]; rp != nil {
		content, found = rp.files[q.Get("file")]
	}
	cut, cutting := s.cuts[key]
	if cutting && r.Method == http.MethodGet {
		delete(s.cuts, key)
	}
	corrupt := s.corrupt[key]
	s.mu.Unlock()
	if !found || "/lfs/"+ETag(q.Get("file"), content) != r.URL.Path {
		http.Error(w, "NoSuchKey", http.StatusNotFound)
		return
	}
	if corrupt && len(content) > 0 {
		content = append([]byte(nil), content...)
		content[0] ^= 0xff
	}
	if cutting && r.Method == http.MethodGet {
		s.cut(w, r, content, cut)
		return
	}
	http.ServeContent(w, r, path.Base(q.Get("file")), time.Time{}, bytes.NewReader(content))
}

// cut answers r with the headers of the whole answer (200, or 206 for "Range: bytes=N-"), sends
// n bytes of the body and closes the connection.
func (s *Server) cut(w http.ResponseWriter, r *http.Request, content []byte, n int) {
	start := 0
	if rg, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes="); ok {
		if a, b, ok := strings.Cut(rg, "-"); ok && b == "" {
			if v, err := strconv.Atoi(a); err == nil && v <= len(content) {
				start = v
			}
		}
	}
	conn, rw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		s.t.Errorf("hubtest: cutting %s: %v", r.URL, err)
		return
	}
	defer conn.Close()
	body := content[start:]
	if start > 0 {
		fmt.Fprintf(rw, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\n", start, len(content)-1, len(content))
	} else {
		fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\n")
	}
	fmt.Fprintf(rw, "Content-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n", len(body))
	rw.Write(body[:min(n, len(body))])
	rw.Flush()
}
