package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/semprox/semprox/internal/httpfetch"
)

// Client fetches files from the hub into its cache. The zero Client works: a zero field takes
// its default. A Client may be used by several goroutines at once; so may several processes
// share a cache (a download takes huggingface_hub's lock file of its blob on Unix systems).
type Client struct {
	Endpoint string       // the hub, e.g. https://huggingface.co (default: DefaultEndpoint)
	Token    string       // an access token, sent as "Authorization: Bearer"; "" sends none
	CacheDir string       // the hub cache (default: DefaultCacheDir())
	Offline  bool         // never use the network: files come from the cache or not at all
	HTTP     *http.Client // the HTTP client (default: one that takes proxies from the environment)
	Progress io.Writer    // where downloads show progress and notes are written (nil: nowhere)
}

// headTimeout bounds the HEAD request that asks for a file's commit and etag, as huggingface_hub
// bounds it (HF_HUB_ETAG_TIMEOUT, 10 s); a variable for tests.
var headTimeout = 10 * time.Second

func (c *Client) endpoint() string {
	if c.Endpoint == "" {
		return DefaultEndpoint
	}
	return strings.TrimRight(c.Endpoint, "/")
}

func (c *Client) cacheDir() string {
	if c.CacheDir == "" {
		return DefaultCacheDir()
	}
	return c.CacheDir
}

// defaultHTTP is the client of a Client without HTTP, made once.
var defaultHTTP = sync.OnceValue(httpfetch.NewClient)

func (c *Client) httpClient() *http.Client {
	if c.HTTP == nil {
		return defaultHTTP()
	}
	return c.HTTP
}

func (c *Client) header() http.Header {
	h := http.Header{}
	h.Set("User-Agent", "semprox-hub")
	if c.Token != "" {
		h.Set("Authorization", "Bearer "+c.Token)
	}
	return h
}

// fileURL is {endpoint}/{repo}/resolve/{revision}/{filename}, the revision escaped whole (a
// branch such as refs/pr/1 included) and the filename segment by segment.
func (c *Client) fileURL(repo, revision, filename string) string {
	segs := strings.Split(filename, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return c.endpoint() + "/" + repo + "/resolve/" + url.PathEscape(revision) + "/" + strings.Join(segs, "/")
}

// resolved is a file in the cache.
type resolved struct {
	path   string // snapshots/{commit}/{filename}
	commit string
	// unreachable is the error of the hub when it could not be asked and the cache answered.
	unreachable error
}

// File returns the path of filename, in repo at revision ("" = main), in the cache: the path
// snapshots/{commit}/{filename} where huggingface_hub has it too, a link to its blob. It is
// downloaded when the cache does not have it yet (a HEAD request asks the hub for the commit
// the revision is at and the file's etag). When the hub cannot be reached, or answers 5xx, a copy
// of the file in the cache for that revision is used, and a line on Progress says so. In offline
// mode the cache alone answers.
func (c *Client) File(ctx context.Context, repo, revision, filename string) (path string, err error) {
	r, err := c.file(ctx, repo, revision, filename, nil)
	if err == nil && r.unreachable != nil {
		c.note(fmt.Sprintf("%s: the hub cannot be reached (%v); using the cached %s of commit %s", repo, r.unreachable, filename, short(r.commit)))
	}
	return r.path, err
}

// file is File without the note. When unreachable is not nil, the hub is known to be out of
// reach (it failed with that error moments ago): the cache alone answers, as after a failed HEAD.
func (c *Client) file(ctx context.Context, repo, revision, filename string, unreachable error) (resolved, error) {
	if revision == "" {
		revision = DefaultRevision
	}
	if !validRepo(repo) {
		return resolved{}, fmt.Errorf("%q is not a repository name on the hub (ORG/NAME)", repo)
	}
	if !validRevision(revision) {
		return resolved{}, fmt.Errorf("model %s: %q is not a revision", repo, revision)
	}
	if !validFilename(filename) {
		return resolved{}, fmt.Errorf("model %s: %q is not a file name in a repository", repo, filename)
	}
	rc := newRepoCache(c.cacheDir(), repo)
	if isCommit(revision) {
		if p, commit, ok := rc.lookup(revision, filename); ok {
			return resolved{path: p, commit: commit}, nil
		}
	}
	if c.Offline {
		p, commit, ok := rc.lookup(revision, filename)
		if !ok {
			return resolved{}, c.errorf(errOffline, repo, revision, filename, func(e *hubError) { e.cachePath = p })
		}
		return resolved{path: p, commit: commit}, nil
	}
	var m meta
	var err error
	if unreachable != nil {
		err = c.errorf(errUnreachable, repo, revision, filename, func(e *hubError) { e.cause = unreachable })
	} else {
		m, err = c.head(ctx, repo, revision, filename)
	}
	if err != nil {
		var he *hubError
		if !errors.As(err, &he) || he.kind != errUnreachable || ctx.Err() != nil {
			return resolved{}, err
		}
		p, commit, ok := rc.lookup(revision, filename)
		if !ok {
			he.cachePath = p
			return resolved{}, he
		}
		return resolved{path: p, commit: commit, unreachable: he.cause}, nil
	}
	pointer := rc.pointer(m.commit, filename)
	if st, err := os.Stat(pointer); err == nil && !st.IsDir() {
		rc.writeRef(revision, m.commit)
		return resolved{path: pointer, commit: m.commit}, nil
	}
	blob := rc.blob(m.etag)
	unlock, err := lockFile(ctx, rc.lock(m.etag), func() {
		c.note(fmt.Sprintf("%s: waiting for another download of %s (lock %s)", repo, filename, rc.lock(m.etag)))
	})
	if err != nil {
		return resolved{}, fmt.Errorf("model %s: %s: %w", repo, filename, err)
	}
	defer unlock()
	if st, err := os.Stat(blob); err != nil || st.IsDir() || (m.size > 0 && st.Size() != m.size) {
		if err == nil {
			os.Remove(blob) // not the content the hub describes
		}
		if err := c.download(ctx, repo, filename, m, blob); err != nil {
			return resolved{}, err
		}
	}
	if err := link(blob, pointer); err != nil {
		return resolved{}, fmt.Errorf("model %s: linking %s to %s: %w", repo, pointer, blob, err)
	}
	// A ref that cannot be written costs only the offline lookup of this revision: the file is there.
	rc.writeRef(revision, m.commit)
	return resolved{path: pointer, commit: m.commit}, nil
}

// download fetches the file into blob, verified against a sha256 etag and the size.
func (c *Client) download(ctx context.Context, repo, filename string, m meta, blob string) error {
	req := httpfetch.Request{
		URL:      c.fileURL(repo, m.commit, filename),
		Header:   c.header(),
		Dest:     blob,
		Partial:  blob + ".incomplete",
		Size:     m.size,
		Label:    repo + "/" + filename,
		Progress: c.Progress,
		Client:   c.httpClient(),
	}
	if isSHA256(m.etag) {
		req.Checksum = httpfetch.Checksum{Algorithm: "sha256", Hex: m.etag}
	}
	err := httpfetch.Fetch(ctx, req)
	var se *httpfetch.StatusError
	if errors.As(err, &se) && strings.HasPrefix(se.URL, c.endpoint()+"/") && (se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden) {
		return c.errorf(errDenied, repo, m.commit, filename, func(e *hubError) { e.status = se.Status })
	}
	if err != nil {
		return fmt.Errorf("model %s: %s: %w", repo, filename, err)
	}
	return nil
}

// meta is what a HEAD request tells of a file.
type meta struct {
	commit string // the commit the revision is at
	etag   string // the sha256 of a large file's content, a git blob hash of a small one
	size   int64  // 0 when unknown
}

// head asks the hub for the commit, etag and size of a file, following only redirects within
// the hub (a renamed repository), not the redirect of a large file to its CDN.
func (c *Client) head(ctx context.Context, repo, revision, filename string) (meta, error) {
	u := c.fileURL(repo, revision, filename)
	hctx, cancel := context.WithTimeout(ctx, headTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(hctx, http.MethodHead, u, nil)
	if err != nil {
		return meta{}, fmt.Errorf("model %s: %w", repo, err)
	}
	req.Header = c.header()
	req.Header.Set("Accept-Encoding", "identity")
	hc := *c.httpClient()
	hc.CheckRedirect = followRelative
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return meta{}, fmt.Errorf("model %s: %s: %w", repo, filename, context.Cause(ctx))
		}
		return meta{}, c.errorf(errUnreachable, repo, revision, filename, func(e *hubError) { e.cause = err })
	}
	resp.Body.Close()
	code := resp.StatusCode
	detail := func(e *hubError) {
		e.status = resp.Status
		e.message = resp.Header.Get("X-Error-Message")
	}
	switch {
	case code == http.StatusOK || (code >= 300 && code < 400):
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		if resp.Header.Get("X-Error-Code") == "RepoNotFound" {
			return meta{}, c.errorf(errNoRepo, repo, revision, filename, detail)
		}
		return meta{}, c.errorf(errDenied, repo, revision, filename, detail)
	case code == http.StatusNotFound:
		switch resp.Header.Get("X-Error-Code") {
		case "RepoNotFound":
			return meta{}, c.errorf(errNoRepo, repo, revision, filename, detail)
		case "RevisionNotFound":
			return meta{}, c.errorf(errNoRevision, repo, revision, filename, detail)
		}
		return meta{}, c.errorf(errNoFile, repo, revision, filename, detail)
	case code >= 500 || code == http.StatusTooManyRequests:
		return meta{}, c.errorf(errUnreachable, repo, revision, filename, func(e *hubError) {
			e.cause = fmt.Errorf("HEAD %s: %s", u, resp.Status)
		})
	default:
		return meta{}, fmt.Errorf("model %s: HEAD %s: the hub answered %s", repo, u, resp.Status)
	}
	m := meta{commit: resp.Header.Get("X-Repo-Commit")}
	m.etag = resp.Header.Get("X-Linked-Etag")
	if m.etag == "" {
		m.etag = resp.Header.Get("ETag")
	}
	m.etag = normalizeEtag(m.etag)
	size := resp.Header.Get("X-Linked-Size")
	if size == "" && code == http.StatusOK {
		size = resp.Header.Get("Content-Length")
	}
	if size != "" {
		if n, err := strconv.ParseInt(size, 10, 64); err == nil && n > 0 {
			m.size = n
		}
	}
	if !isCommitLike(m.commit) || !isEtagLike(m.etag) {
		return meta{}, fmt.Errorf("model %s: HEAD %s answered no usable X-Repo-Commit (%q) and ETag (%q): is %s a Hugging Face hub (HF_ENDPOINT)?",
			repo, u, m.commit, m.etag, c.endpoint())
	}
	return m, nil
}

// followRelative follows a redirect whose Location has no host (the hub moving a renamed
// repository) and stops at one to another host (a large file's CDN).
func followRelative(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.Response != nil {
		if loc, err := url.Parse(req.Response.Header.Get("Location")); err == nil && loc.Host == "" {
			return nil
		}
	}
	return http.ErrUseLastResponse
}

// normalizeEtag drops a weak-validator prefix W/ and the quotes.
func normalizeEtag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	return strings.Trim(s, `"`)
}

// validFilename checks a file name in a repository: relative, with / between folders, no "."
// or ".." folders.
func validFilename(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsAny(name, "\\\x00") {
		return false
	}
	for _, s := range strings.Split(name, "/") {
		if s == "" || s == "." || s == ".." {
			return false
		}
	}
	return true
}

// note writes a line to Progress.
func (c *Client) note(s string) {
	if c.Progress != nil {
		fmt.Fprintln(c.Progress, s)
	}
}

// short is the first 7 characters of a commit, as git shows it.
func short(commit string) string {
	if len(commit) > 7 {
		return commit[:7]
	}
	return commit
}
