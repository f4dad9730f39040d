package httpfetch

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/semprox/semprox/internal/atomicfile"
	"github.com/semprox/semprox/internal/units"
)

// Checksum is a digest the downloaded bytes must match.
type Checksum struct {
	Algorithm string // "sha256" or "md5"
	Hex       string // the expected digest, hex (compared case-insensitively)
}

// IsZero reports whether c asks for no verification.
func (c Checksum) IsZero() bool { return c.Algorithm == "" && c.Hex == "" }

// NewHash returns a hash of c's algorithm, or an error for an algorithm httpfetch does not know
// or a digest of the wrong length for it.
func (c Checksum) NewHash() (hash.Hash, error) {
	var h hash.Hash
	switch strings.ToLower(c.Algorithm) {
	case "sha256":
		h = sha256.New()
	case "md5":
		h = md5.New()
	default:
		return nil, fmt.Errorf("checksum algorithm %q is not one of sha256, md5", c.Algorithm)
	}
	if b, err := hex.DecodeString(c.Hex); err != nil || len(b) != h.Size() {
		return nil, fmt.Errorf("%s checksum %q is not %d hex digits", c.Algorithm, c.Hex, 2*h.Size())
	}
	return h, nil
}

// Request is one file to download.
type Request struct {
	URL string
	// Header holds extra request headers (e.g. Authorization). Go's client drops Authorization
	// on a redirect to another host, so a token for the origin is not sent to a CDN it redirects to.
	Header http.Header
	// Dest is the final path: it appears only once the whole file is there and verified (a rename
	// of Partial). Its directory is created.
	Dest string
	// Partial holds the bytes while downloading ("" = Dest + ".incomplete"); it should be on
	// Dest's file system. A partial file left by an earlier, interrupted try is resumed with an
	// HTTP Range request (bytes=N-); a server answering 200 instead of 206 restarts it from zero,
	// and so do 416 and a Content-Range that does not start at N.
	Partial string
	// Size is the expected size in bytes, 0 when unknown; a body that ends short or runs longer
	// is an error.
	Size int64
	// Checksum is the digest of the whole file (the resumed bytes included); zero: not verified.
	Checksum Checksum
	// MaxBytes refuses (an error) a download larger than this; 0: no limit.
	MaxBytes int64
	// Label is what the progress lines and errors call the file (default: the URL).
	Label string
	// Progress is where progress is shown (nil: nowhere): a progress bar in bytes on a
	// terminal, else plain lines at most every 10 s and a final line.
	Progress io.Writer
	// Client does the requests; nil: [NewClient]'s, whose transport takes proxies from the
	// environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY).
	Client *http.Client
	// Retries is the number of extra tries after a connection that fails, stalls or is cut half
	// way, or a 5xx or 429 answer, each resuming from what is on disk; 0: 3; negative: none.
	Retries int
}

// StatusError is the error of an HTTP status Fetch does not accept (401, 403, 404, 5xx ...).
// Fetch returns it as a *StatusError, possibly wrapped: use errors.As.
type StatusError struct {
	URL    string
	Code   int
	Status string // as the server wrote it, e.g. "404 Not Found"
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: the server answered %s", e.URL, e.Status)
}

// ChecksumError is the error of a download whose bytes do not match Request.Checksum. Fetch
// returns it as a *ChecksumError, possibly wrapped, after deleting the partial file.
type ChecksumError struct {
	URL       string
	Algorithm string
	Want, Got string // hex digests
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("download of %s is corrupt: its %s is %s, expected %s (the partial file was deleted; try again)",
		e.URL, e.Algorithm, e.Got, strings.ToLower(e.Want))
}

// NewClient returns the client Fetch uses when Request.Client is nil: Go's default transport
// (proxies from HTTP_PROXY, HTTPS_PROXY and NO_PROXY) with a one-minute limit on the wait for
// response headers, and no limit on the whole download.
func NewClient() *http.Client {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	}
	t.ResponseHeaderTimeout = time.Minute
	return &http.Client{Transport: t}
}

// Settings of the retries, variables so that tests can shorten them.
var (
	retryDelay    = time.Second      // pause before the first retry, doubled for each further one
	maxRetryDelay = 30 * time.Second // longest pause between two tries
	stallTimeout  = 2 * time.Minute  // a connection that delivers no byte for this long is cut and retried
)

// defaultRetries is Request.Retries' 0.
const defaultRetries = 3

// Fetch downloads r.URL into r.Dest. On a checksum mismatch it deletes the partial file and
// returns a [*ChecksumError] naming the URL, the expected and the actual digest; nothing is left
// that a later run would trust. On any other failure the partial file stays for a later Fetch to
// resume. An HTTP status other than 200 and 206 is a [*StatusError]. Cancelling ctx stops the
// download; the error then wraps ctx's error.
func Fetch(ctx context.Context, r Request) error {
	f, err := newFetcher(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.partial), 0o755); err != nil {
		return fmt.Errorf("download of %s: %w", f.what(), err)
	}
	delay := retryDelay
	for try := 0; ; try++ {
		err := f.try(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("download of %s stopped: %w", f.what(), context.Cause(ctx))
		}
		var te *transientError
		if !errors.As(err, &te) {
			return err
		}
		if try >= f.retries {
			return te.err
		}
		f.progress.note(fmt.Sprintf("%s: %v; trying again in %s (%d of %d)", f.label, te.err, delay, try+1, f.retries))
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return fmt.Errorf("download of %s stopped: %w", f.what(), context.Cause(ctx))
		}
		delay = min(2*delay, maxRetryDelay)
	}
	return f.finish()
}

// fetcher is the state of one Fetch.
type fetcher struct {
	r        Request
	partial  string
	label    string
	client   *http.Client
	retries  int
	hash     hash.Hash // nil: no checksum
	progress *progress
	have     int64 // bytes in the partial file after the last successful try
}

func newFetcher(r Request) (*fetcher, error) {
	if r.URL == "" {
		return nil, errors.New("httpfetch: the request has no URL")
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil, fmt.Errorf("download: bad URL %q: %w", r.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("download: URL %q is not http or https", r.URL)
	}
	if r.Dest == "" {
		return nil, fmt.Errorf("download of %s: the request has no destination path", r.URL)
	}
	f := &fetcher{r: r, partial: r.Partial, label: r.Label, client: r.Client, retries: r.Retries}
	if f.partial == "" {
		f.partial = r.Dest + ".incomplete"
	}
	if f.label == "" {
		f.label = r.URL
	}
	if f.client == nil {
		f.client = NewClient()
	}
	switch {
	case f.retries == 0:
		f.retries = defaultRetries
	case f.retries < 0:
		f.retries = 0
	}
	if !r.Checksum.IsZero() {
		if f.hash, err = r.Checksum.NewHash(); err != nil {
			return nil, fmt.Errorf("download of %s: %w", f.what(), err)
		}
	}
	if r.MaxBytes > 0 && r.Size > r.MaxBytes {
		return nil, fmt.Errorf("download of %s: its size, %s, is over the limit of %s", f.what(), units.Bytes(r.Size), units.Bytes(r.MaxBytes))
	}
	f.progress = newProgress(r.Progress, f.label)
	return f, nil
}

// what names the download in errors: the URL, with the label before it when there is one.
func (f *fetcher) what() string {
	if f.r.Label == "" || f.r.Label == f.r.URL {
		return f.r.URL
	}
	return f.r.Label + " (" + f.r.URL + ")"
}

// transientError marks an error after which another try may succeed.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// errRestart says that the server will not continue the partial file: start it over.
var errRestart = errors.New("restart from zero")

// errStalled is the cause of a request cut because no byte came for stallTimeout.
var errStalled = errors.New("no data")

// try makes one attempt: it continues the partial file to its end and syncs it. It returns a
// *transientError when another try may do better.
func (f *fetcher) try(ctx context.Context) error {
	file, err := os.OpenFile(f.partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("download of %s: %w", f.what(), err)
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return fmt.Errorf("download of %s: %w", f.what(), err)
	}
	have := st.Size()
	if (f.r.Size > 0 && have > f.r.Size) || (f.r.MaxBytes > 0 && have > f.r.MaxBytes) {
		have = 0 // not a prefix of this file
	}
	if err := f.rehash(file, have); err != nil {
		return err
	}
	if f.r.Size > 0 && have == f.r.Size {
		f.have = have // complete already: finish verifies it
		return nil
	}
	for {
		actx, cancel := context.WithCancelCause(ctx)
		watchdog := time.AfterFunc(stallTimeout, func() { cancel(errStalled) })
		resp, err := f.get(actx, have)
		if err != nil {
			watchdog.Stop()
			cancel(nil)
			return f.requestError(ctx, actx, err, have)
		}
		start, total, err := f.check(resp, have)
		if err != nil {
			watchdog.Stop()
			resp.Body.Close()
			cancel(nil)
			if err == errRestart {
				have = 0
				if err := f.rehash(file, 0); err != nil {
					return err
				}
				continue
			}
			return err
		}
		if start != have {
			have = start // only ever 0: the server sent the whole file
			if err := f.rehash(file, 0); err != nil {
				resp.Body.Close()
				return err
			}
		}
		err = f.copy(ctx, actx, file, resp.Body, have, total, watchdog)
		watchdog.Stop()
		resp.Body.Close()
		cancel(nil)
		if err != nil {
			return err
		}
		if err := file.Sync(); err != nil {
			return fmt.Errorf("download of %s: %w", f.what(), err)
		}
		return nil
	}
}

// rehash truncates the partial file to its first n bytes, leaves it positioned at n, and sets
// the hash to those bytes, so that the checksum covers the resumed bytes as well.
func (f *fetcher) rehash(file *os.File, n int64) error {
	if err := file.Truncate(n); err != nil {
		return fmt.Errorf("download of %s: %w", f.what(), err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("download of %s: %w", f.what(), err)
	}
	if f.hash != nil {
		f.hash.Reset()
		if _, err := io.CopyN(f.hash, file, n); err != nil {
			return fmt.Errorf("download of %s: reading the partial file %s: %w", f.what(), f.partial, err)
		}
	}
	if _, err := file.Seek(n, io.SeekStart); err != nil {
		return fmt.Errorf("download of %s: %w", f.what(), err)
	}
	return nil
}

// get sends the GET, asking for the bytes from have on when have > 0.
func (f *fetcher) get(ctx context.Context, have int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.r.URL, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range f.r.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if req.Header.Get("Accept-Encoding") == "" {
		// The bytes as stored: a transparently decompressed body would break sizes, ranges and digests.
		req.Header.Set("Accept-Encoding", "identity")
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	} else {
		req.Header.Del("Range")
	}
	return f.client.Do(req)
}

// requestError turns a failed request into the error of try.
func (f *fetcher) requestError(ctx, actx context.Context, err error, have int64) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if context.Cause(actx) == errStalled {
		return &transientError{fmt.Errorf("download of %s: no answer in %s", f.what(), stallTimeout)}
	}
	err = fmt.Errorf("download of %s: %w", f.what(), err)
	var (
		unknownAuthority x509.UnknownAuthorityError
		invalidCert      x509.CertificateInvalidError
		hostname         x509.HostnameError
		dns              *net.DNSError
	)
	switch {
	case errors.As(err, &unknownAuthority), errors.As(err, &invalidCert), errors.As(err, &hostname):
		return err
	case errors.As(err, &dns) && dns.IsNotFound:
		return err
	}
	return &transientError{err}
}

// check reads the response's status and headers: it returns the offset its body starts at (have
// or 0) and the size of the whole file (-1: unknown), errRestart when the partial file must be
// started over, a *StatusError or another error.
func (f *fetcher) check(resp *http.Response, have int64) (start, total int64, err error) {
	total = -1
	switch resp.StatusCode {
	case http.StatusOK:
		start = 0
		if resp.ContentLength >= 0 {
			total = resp.ContentLength
		}
	case http.StatusPartialContent:
		first, last, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok {
			return 0, 0, fmt.Errorf("download of %s: the server answered 206 with a Content-Range %q that httpfetch cannot read",
				f.what(), resp.Header.Get("Content-Range"))
		}
		if first != have || (size >= 0 && last != size-1) {
			if have == 0 {
				return 0, 0, fmt.Errorf("download of %s: the server sent bytes %d-%d when asked for the whole file", f.what(), first, last)
			}
			return 0, 0, errRestart
		}
		start, total = first, size
		if total < 0 && resp.ContentLength >= 0 {
			total = first + resp.ContentLength
		}
	case http.StatusRequestedRangeNotSatisfiable:
		if have > 0 {
			return 0, 0, errRestart
		}
		fallthrough
	default:
		err := &StatusError{URL: f.r.URL, Code: resp.StatusCode, Status: resp.Status}
		if resp.Request != nil && resp.Request.URL != nil && resp.Request.URL.String() != f.r.URL {
			err.URL = resp.Request.URL.String() // the host a redirect led to
		}
		c := resp.StatusCode
		if c >= 500 || c == http.StatusTooManyRequests || c == http.StatusRequestTimeout {
			return 0, 0, &transientError{err}
		}
		return 0, 0, err
	}
	if total < 0 && f.r.Size > 0 {
		total = f.r.Size
	}
	if f.r.Size > 0 && total != f.r.Size {
		return 0, 0, fmt.Errorf("download of %s: the server's file is %d bytes, expected %d", f.what(), total, f.r.Size)
	}
	if f.r.MaxBytes > 0 && total > f.r.MaxBytes {
		return 0, 0, fmt.Errorf("download of %s: its size, %s, is over the limit of %s", f.what(), units.Bytes(total), units.Bytes(f.r.MaxBytes))
	}
	return start, total, nil
}

// parseContentRange reads "bytes first-last/size" (size may be "*": -1).
func parseContentRange(s string) (first, last, size int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, sz, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	first, err1 = strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	last, err2 = strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	size = -1
	if sz = strings.TrimSpace(sz); sz != "*" {
		size, err3 = strconv.ParseInt(sz, 10, 64)
	}
	if err1 != nil || err2 != nil || err3 != nil || first < 0 || last < first || (size >= 0 && last >= size) {
		return 0, 0, 0, false
	}
	return first, last, size, true
}

// copy appends body to file from offset have, hashing it and showing progress, and checks that
// it ends at total (when known).
func (f *fetcher) copy(ctx, actx context.Context, file *os.File, body io.Reader, have, total int64, watchdog *time.Timer) error {
	f.progress.begin(have, total)
	buf := make([]byte, 256<<10)
	n := have
	for {
		k, rerr := body.Read(buf)
		if k > 0 {
			watchdog.Reset(stallTimeout)
			if total >= 0 && n+int64(k) > total {
				f.have = n
				return fmt.Errorf("download of %s: the body runs longer than the %d bytes expected", f.what(), total)
			}
			if f.r.MaxBytes > 0 && n+int64(k) > f.r.MaxBytes {
				f.have = n
				return fmt.Errorf("download of %s: it is larger than the limit of %s", f.what(), units.Bytes(f.r.MaxBytes))
			}
			if _, err := file.Write(buf[:k]); err != nil {
				return fmt.Errorf("download of %s: writing %s: %w", f.what(), f.partial, err)
			}
			if f.hash != nil {
				f.hash.Write(buf[:k])
			}
			n += int64(k)
			f.progress.add(int64(k))
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			f.have = n
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if context.Cause(actx) == errStalled {
				return &transientError{fmt.Errorf("download of %s: no data for %s after %d bytes", f.what(), stallTimeout, n)}
			}
			return &transientError{fmt.Errorf("download of %s: the connection broke after %s of %s: %w",
				f.what(), units.Bytes(n), formatSize(total), rerr)}
		}
	}
	f.have = n
	if total >= 0 && n < total {
		return fmt.Errorf("download of %s: the body ended after %d of %d bytes", f.what(), n, total)
	}
	return nil
}

// finish verifies the checksum of the complete partial file and renames it to Dest.
func (f *fetcher) finish() error {
	if f.hash != nil {
		got := hex.EncodeToString(f.hash.Sum(nil))
		if !strings.EqualFold(got, f.r.Checksum.Hex) {
			os.Remove(f.partial)
			return &ChecksumError{URL: f.r.URL, Algorithm: strings.ToLower(f.r.Checksum.Algorithm), Want: f.r.Checksum.Hex, Got: got}
		}
	}
	dir := filepath.Dir(f.r.Dest)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("download of %s: %w", f.what(), err)
	}
	if err := os.Rename(f.partial, f.r.Dest); err != nil {
		return fmt.Errorf("download of %s: %w", f.what(), err)
	}
	atomicfile.SyncDir(dir)
	f.progress.finish(f.have)
	return nil
}
