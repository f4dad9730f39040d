package httpfetch

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func init() {
	retryDelay = time.Millisecond
	maxRetryDelay = time.Millisecond
}

// content is a file of n pseudo-random bytes.
func content(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// recorder keeps the Range headers a server saw.
type recorder struct {
	mu     sync.Mutex
	ranges []string
}

func (r *recorder) add(req *http.Request) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ranges = append(r.ranges, req.Header.Get("Range"))
	return len(r.ranges)
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ranges...)
}

// serve answers as a plain static file server does, Range requests included.
func serve(w http.ResponseWriter, req *http.Request, b []byte) {
	http.ServeContent(w, req, "f", time.Time{}, bytes.NewReader(b))
}

// cut answers 200 with the whole file's Content-Length, sends the first n bytes and closes the
// connection.
func cut(t *testing.T, w http.ResponseWriter, b []byte, n int) {
	conn, rw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n", len(b))
	rw.Write(b[:n])
	rw.Flush()
	conn.Close()
}

// paths returns the Dest and default Partial of a file in a fresh directory.
func paths(t *testing.T) (dest, partial string) {
	dest = filepath.Join(t.TempDir(), "sub", "file.bin")
	return dest, dest + ".incomplete"
}

func mustContent(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s holds %d bytes that differ from the %d expected", path, len(got), len(want))
	}
}

func mustNotExist(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists (err %v), want it absent", p, err)
		}
	}
}

func TestFetchPlain(t *testing.T) {
	b := content(300_000)
	var rec recorder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		serve(w, r, b)
	}))
	defer srv.Close()
	dest, partial := paths(t)
	err := Fetch(context.Background(), Request{URL: srv.URL + "/f", Dest: dest, Size: int64(len(b)),
		Checksum: Checksum{Algorithm: "SHA256", Hex: strings.ToUpper(sha256Hex(b))}})
	if err != nil {
		t.Fatal(err)
	}
	mustContent(t, dest, b)
	mustNotExist(t, partial)
	if got := rec.seen(); len(got) != 1 || got[0] != "" {
		t.Errorf("Range headers %q, want one request without Range", got)
	}
}

func TestFetchMD5UnknownSize(t *testing.T) {
	b := content(70_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Chunked, with no Content-Length.
		w.Write(b[:1000])
		w.(http.Flusher).Flush()
		w.Write(b[1000:])
	}))
	defer srv.Close()
	dest, _ := paths(t)
	sum := md5.Sum(b)
	if err := Fetch(context.Background(), Request{URL: srv.URL, Dest: dest,
		Checksum: Checksum{Algorithm: "md5", Hex: hex.EncodeToString(sum[:])}}); err != nil {
		t.Fatal(err)
	}
	mustContent(t, dest, b)
}

// TestFetchRetriesAfterCut checks that a connection closed half way is retried with a Range
// request for the rest, and that the checksum covers the bytes of the first try.
func TestFetchRetriesAfterCut(t *testing.T) {
	b := content(200_000)
	var rec recorder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec.add(r) == 1 {
			cut(t, w, b, 123_457)
			return
		}
		serve(w, r, b)
	}))
	defer srv.Close()
	dest, partial := paths(t)
	err := Fetch(context.Background(), Request{URL: srv.URL, Dest: dest, Size: int64(len(b)),
		Checksum: Checksum{Algorithm: "sha256", Hex: sha256Hex(b)}})
	if err != nil {
		t.Fatal(err)
	}
	mustContent(t, dest, b)
	mustNotExist(t, partial)
	if got, want := rec.seen(), []string{"", "bytes=123457-"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Range headers %q, want %q", got, want)
	}
}

// TestFetchResumesPartialFile checks that a Fetch without retries leaves the partial file of a
// cut download, and that the next Fetch resumes it.
func TestFetchResumesPartialFile(t *testing.T) {
	b := content(200_000)
	var rec recorder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec.add(r) == 1 {
			cut(t, w, b, 50_000)
			return
		}
		serve(w, r, b)
	}))
	defer srv.Close()
	dest, partial := paths(t)
	req := Request{URL: srv.URL, Dest: dest, Retries: -1,
		Checksum: Checksum{Algorithm: "sha256", Hex: sha256Hex(b)}}
	err := Fetch(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("first Fetch: error %v, want one naming %s", err, srv.URL)
	}
	mustNotExist(t, dest)
	mustContent(t, partial, b[:50_000])
	if err := Fetch(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	mustContent(t, dest, b)
	mustNotExist(t, partial)
	if got, want := rec.seen(), []string{"", "bytes=50000-"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Range headers %q, want %q", got, want)
	}
}

// TestFetchRestarts checks the answers to a Range request that restart the file from zero: a
// 200 (the server ignores Range), a 416, and a 206 that does not start where asked.
func TestFetchRestarts(t *testing.T) {
	b := content(100_000)
	cases := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		ranges []string
	}{
		{"200", func(w http.ResponseWriter, r *http.Request) { w.Write(b) }, []string{"bytes=1000-"}},
		{"416", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Range") != "" {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(b)))
				w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
				return
			}
			serve(w, r, b)
		}, []string{"bytes=1000-", ""}},
		{"206 elsewhere", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Range") != "" {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes 10-%d/%d", len(b)-1, len(b)))
				w.WriteHeader(http.StatusPartialContent)
				w.Write(b[10:])
				return
			}
			serve(w, r, b)
		}, []string{"bytes=1000-", ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rec recorder
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec.add(r)
				c.answer(w, r)
			}))
			defer srv.Close()
			dest, partial := paths(t)
			os.MkdirAll(filepath.Dir(partial), 0o755)
			// 1000 bytes that are not the file's first 1000.
			if err := os.WriteFile(partial, bytes.Repeat([]byte{'x'}, 1000), 0o644); err != nil {
				t.Fatal(err)
			}
			err := Fetch(context.Background(), Request{URL: srv.URL, Dest: dest,
				Checksum: Checksum{Algorithm: "sha256", Hex: sha256Hex(b)}})
			if err != nil {
				t.Fatal(err)
			}
			mustContent(t, dest, b)
			mustNotExist(t, partial)
			if got := rec.seen(); fmt.Sprint(got) != fmt.Sprint(c.ranges) {
				t.Errorf("Range headers %q, want %q", got, c.ranges)
			}
		})
	}
}

// TestFetchCompletePartial checks that a partial file of the expected size is verified and
// moved into place without a request.
func TestFetchCompletePartial(t *testing.T) {
	b := content(5000)
	var rec recorder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rec.add(r); serve(w, r, b) }))
	defer srv.Close()
	dest, partial := paths(t)
	os.MkdirAll(filepath.Dir(partial), 0o755)
	os.WriteFile(partial, b, 0o644)
	if err := Fetch(context.Background(), Request{URL: srv.URL, Dest: dest, Size: int64(len(b)),
		Checksum: Checksum{Algorithm: "sha256", Hex: sha256Hex(b)}}); err != nil {
		t.Fatal(err)
	}
	mustContent(t, dest, b)
	if n := len(rec.seen()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

func TestFetchChecksumMismatch(t *testing.T) {
	b := content(40_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(w, r, b) }))
	defer srv.Close()
	dest, partial := paths(t)
	want := sha256Hex([]byte("something else"))
	err := Fetch(context.Background(), Request{URL: srv.URL + "/x.bin", Dest: dest,
		Checksum: Checksum{Algorithm: "sha256", Hex: want}})
	var ce *ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want a *ChecksumError", err)
	}
	for _, s := range []string{srv.URL + "/x.bin", want, sha256Hex(b)} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	mustNotExist(t, dest, partial)
}

func TestFetchBadChecksumRequest(t *testing.T) {
	dest, _ := paths(t)
	for _, c := range []Checksum{{Algorithm: "sha1", Hex: "00"}, {Algorithm: "sha256", Hex: "abc"}} {
		if err := Fetch(context.Background(), Request{URL: "http://127.0.0.1:1/", Dest: dest, Checksum: c}); err == nil {
			t.Errorf("checksum %+v accepted", c)
		}
	}
}

// TestFetchWrongSize checks bodies shorter or longer than Request.Size, with and without a
// Content-Length, and a connection cut with no retries left.
func TestFetchWrongSize(t *testing.T) {
	b := content(10_000)
	cases := []struct {
		name   string
		size   int64
		answer func(w http.ResponseWriter, r *http.Request)
		want   string
	}{
		{"short with length", 20_000, func(w http.ResponseWriter, r *http.Request) { serve(w, r, b) }, "expected 20000"},
		{"short chunked", 20_000, func(w http.ResponseWriter, r *http.Request) {
			w.Write(b[:10])
			w.(http.Flusher).Flush()
			w.Write(b[10:])
		}, "ended after 10000 of 20000"},
		{"long chunked", 5000, func(w http.ResponseWriter, r *http.Request) {
			w.Write(b[:10])
			w.(http.Flusher).Flush()
			w.Write(b[10:])
		}, "runs longer"},
		{"cut", 10_000, func(w http.ResponseWriter, r *http.Request) { cut(t, w, b, 4000) }, "connection broke"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(c.answer))
			defer srv.Close()
			dest, _ := paths(t)
			err := Fetch(context.Background(), Request{URL: srv.URL, Dest: dest, Size: c.size, Retries: -1})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), srv.URL) {
				t.Fatalf("error %v, want one naming %s and saying %q", err, srv.URL, c.want)
			}
			mustNotExist(t, dest)
		})
	}
}

func TestFetchMaxBytes(t *testing.T) {
	b := content(10_000)
	for _, chunked := range []bool{false, true} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if chunked {
				w.Write(b[:10])
				w.(http.Flusher).Flush()
				w.Write(b[10:])
				return
			}
			serve(w, r, b)
		}))
		dest, _ := paths(t)
		err := Fetch(context.Background(), Request{URL: srv.URL, Dest: dest, MaxBytes: 9999})
		if err == nil || !strings.Contains(err.Error(), "limit") {
			t.Errorf("chunked %v: error %v, want one about the limit", chunked, err)
		}
		mustNotExist(t, dest)
		srv.Close()
	}
}

func TestFetchStatusError(t *testing.T) {
	for _, code := range []int{http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden, http.StatusServiceUnavailable} {
		var rec recorder
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec.add(r)
			http.Error(w, "no", code)
		}))
		dest, partial := paths(t)
		err := Fetch(context.Background(), Request{URL: srv.URL + "/missing", Dest: dest, Retries: 2})
		var se *StatusError
		if !errors.As(err, &se) || se.Code != code || se.URL != srv.URL+"/missing" {
			t.Errorf("status %d: error %#v, want a *StatusError with the code and URL", code, err)
		} else if !strings.Contains(err.Error(), srv.URL+"/missing") {
			t.Errorf("error %q does not name the URL", err)
		}
		want := 1
		if code >= 500 {
			want = 3 // retried
		}
		if n := len(rec.seen()); n != want {
			t.Errorf("status %d: %d requests, want %d", code, n, want)
		}
		mustNotExist(t, dest)
		os.Remove(partial)
		srv.Close()
	}
}

func TestFetchContextCancel(t *testing.T) {
	b := content(100_000)
	sent := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Write(b[:30_000])
		w.(http.Flusher).Flush()
		close(sent)
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-sent; time.Sleep(50 * time.Millisecond); cancel() }()
	dest, partial := paths(t)
	err := Fetch(ctx, Request{URL: srv.URL, Dest: dest})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	mustNotExist(t, dest)
	if st, err := os.Stat(partial); err != nil || st.Size() != 30_000 {
		t.Errorf("partial file %v %v, want 30000 bytes kept", st, err)
	}
}

// TestFetchStall checks that a connection that stops sending is cut and the download resumed.
func TestFetchStall(t *testing.T) {
	defer func(d time.Duration) { stallTimeout = d }(stallTimeout)
	stallTimeout = 100 * time.Millisecond
	b := content(50_000)
	var rec recorder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec.add(r) == 1 {
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.Write(b[:20_000])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		serve(w, r, b)
	}))
	defer srv.Close()
	dest, _ := paths(t)
	if err := Fetch(context.Background(), Request{URL: srv.URL, Dest: dest,
		Checksum: Checksum{Algorithm: "sha256", Hex: sha256Hex(b)}}); err != nil {
		t.Fatal(err)
	}
	mustContent(t, dest, b)
	if got, want := rec.seen(), []string{"", "bytes=20000-"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Range headers %q, want %q", got, want)
	}
}

// TestFetchRedirectDropsAuthorization checks that a redirect to another host (a CDN) is followed
// without the origin's Authorization header, while other headers go along.
func TestFetchRedirectDropsAuthorization(t *testing.T) {
	b := content(20_000)
	var mu sync.Mutex
	var cdnAuth, cdnCustom, originAuth []string
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cdnAuth = append(cdnAuth, r.Header.Get("Authorization"))
		cdnCustom = append(cdnCustom, r.Header.Get("X-Custom"))
		mu.Unlock()
		serve(w, r, b)
	}))
	defer cdn.Close()
	// The CDN by another host name than the origin's 127.0.0.1.
	cdnURL := strings.Replace(cdn.URL, "127.0.0.1", "localhost", 1)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		originAuth = append(originAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		http.Redirect(w, r, cdnURL+"/blob", http.StatusFound)
	}))
	defer origin.Close()
	dest, _ := paths(t)
	h := http.Header{}
	h.Set("Authorization", "Bearer secret")
	h.Set("X-Custom", "yes")
	if err := Fetch(context.Background(), Request{URL: origin.URL + "/file", Dest: dest, Header: h,
		Checksum: Checksum{Algorithm: "sha256", Hex: sha256Hex(b)}}); err != nil {
		t.Fatal(err)
	}
	mustContent(t, dest, b)
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(originAuth) != "[Bearer secret]" {
		t.Errorf("origin saw Authorization %q", originAuth)
	}
	if fmt.Sprint(cdnAuth) != "[]" || fmt.Sprint(cdnCustom) != "[yes]" {
		t.Errorf("CDN saw Authorization %q and X-Custom %q, want \"\" and yes", cdnAuth, cdnCustom)
	}
}

func TestFetchProgressPlain(t *testing.T) {
	defer func(d time.Duration) { plainInterval = d }(plainInterval)
	plainInterval = 0
	b := content(600_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(w, r, b) }))
	defer srv.Close()
	dest, _ := paths(t)
	var buf bytes.Buffer
	if err := Fetch(context.Background(), Request{URL: srv.URL, Dest: dest, Label: "weights.bin", Progress: &buf}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("progress %q, want a first line, progress lines and a final line", buf.String())
	}
	if lines[0] != "weights.bin: downloading 585.9 KiB" {
		t.Errorf("first line %q", lines[0])
	}
	if !strings.Contains(lines[1], " of 585.9 KiB (") {
		t.Errorf("progress line %q", lines[1])
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "weights.bin: 585.9 KiB done in ") {
		t.Errorf("final line %q", last)
	}
}

func TestParseContentRange(t *testing.T) {
	for _, c := range []struct {
		in                 string
		first, last, total int64
		ok                 bool
	}{
		{"bytes 0-99/100", 0, 99, 100, true},
		{"bytes 10-99/*", 10, 99, -1, true},
		{"bytes 10-99/50", 0, 0, 0, false},
		{"bytes */100", 0, 0, 0, false},
		{"items 0-1/2", 0, 0, 0, false},
		{"bytes 5-4/10", 0, 0, 0, false},
	} {
		first, last, total, ok := parseContentRange(c.in)
		if ok != c.ok || (ok && (first != c.first || last != c.last || total != c.total)) {
			t.Errorf("parseContentRange(%q) = %d %d %d %v", c.in, first, last, total, ok)
		}
	}
}
