package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/semprox/semprox/dml/data/datatest"
	"github.com/semprox/semprox/internal/archive"
)

// archiveServer serves one archive with Range support, and records the requests.
type archiveServer struct {
	*httptest.Server
	body []byte
	mu   sync.Mutex
	reqs []*http.Request
	// cutFirst makes the first answer stop after half the body, the connection closed.
	cutFirst bool
}

func newArchiveServer(t *testing.T, body []byte) *archiveServer {
	s := &archiveServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Clone(context.Background()))
		first := len(s.reqs) == 1
		s.mu.Unlock()
		if first && s.cutFirst {
			w.Header().Set("Content-Length", strconv.Itoa(len(s.body)))
			w.WriteHeader(http.StatusOK)
			w.Write(s.body[:len(s.body)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection is cut
		}
		http.ServeContent(w, r, "CUB_200_2011.tgz", time.Time{}, bytes.NewReader(s.body))
	}))
	t.Cleanup(s.Close)
	return s
}

// requests returns how many requests the server has had, and their Range headers.
func (s *archiveServer) requests() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ranges []string
	for _, r := range s.reqs {
		ranges = append(ranges, r.Header.Get("Range"))
	}
	return len(s.reqs), ranges
}

// cubArchive returns a generated CUB archive of 64 classes of 2 images and its MD5.
func cubArchive(t *testing.T) ([]byte, string) {
	t.Helper()
	b, sum, err := datatest.CUBArchive(64, 2, 8)
	if err != nil {
		t.Fatal(err)
	}
	return b, sum
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// serveCUB serves body as CUB's archive through the environment's overrides.
func serveCUB(t *testing.T, body []byte, sum string) *archiveServer {
	s := newArchiveServer(t, body)
	t.Setenv("SEMPROX_CUB_URL", s.URL+"/CUB_200_2011.tgz")
	t.Setenv("SEMPROX_CUB_MD5", sum)
	return s
}

// listTree lists every path beneath root, slash-separated, directories with a trailing slash.
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	return out
}

// TestDownloadCUB downloads a generated CUB archive from a test server into a data directory:
// the returned root reads as CUB with both splits, the archive is gone and nothing else is left;
// a second Download, the server closed, returns the same root without a request, and so does a
// Download given the unpacked directory itself or its parent.
func TestDownloadCUB(t *testing.T) {
	body, sum := cubArchive(t)
	srv := serveCUB(t, body, sum)
	dir := t.TempDir()
	var progress bytes.Buffer
	root, got, err := Download(context.Background(), "CUB200", dir, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if want := filepath.Join(dir, "cub", "CUB_200_2011"); root != want {
		t.Fatalf("root %s, want %s", root, want)
	}
	ds, err := ReadCUB(root)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Root != root || len(got.Splits) != len(ds.Splits) || len(got.Split("train").Samples) != len(ds.Split("train").Samples) {
		t.Errorf("Download's dataset %+v differs from ReadCUB's", got)
	}
	train, test := ds.Split("train"), ds.Split("test")
	if train.Classes != 32 || len(train.Samples) != 64 || test.Classes != 32 || len(test.Samples) != 64 {
		t.Errorf("train %d classes %d images, test %d classes %d images", train.Classes, len(train.Samples), test.Classes, len(test.Samples))
	}
	for _, p := range listTree(t, dir) {
		if p != "cub/" && !strings.HasPrefix(p, "cub/CUB_200_2011/") {
			t.Errorf("%s left in the data directory", p)
		}
	}
	out := progress.String()
	for _, want := range []string{"cub: extracting " + filepath.Join(dir, "cub", "CUB_200_2011.tgz") + " into " + root,
		"cub: extracted 133 files (", "removed the archive"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress does not say %q:\n%s", want, out)
		}
	}

	srv.Close()
	n, _ := srv.requests()
	for _, d := range []string{dir, root, filepath.Dir(root)} {
		again, _, err := Download(context.Background(), "cub", d, nil)
		if err != nil || again != root {
			t.Errorf("Download(%s) again: %q, %v; want %q", d, again, err, root)
		}
	}
	if m, _ := srv.requests(); m != n {
		t.Errorf("%d requests after the dataset was there", m-n)
	}
	if n != 1 {
		t.Errorf("%d requests for one download", n)
	}
}

// TestDownloadDefaultCache checks the default cache directory: XDG_CACHE_HOME when absolute,
// else ~/.cache; Download with no directory uses it.
func TestDownloadDefaultCache(t *testing.T) {
	home, xdg := t.TempDir(), t.TempDir()
	t.Setenv("HOME", home)
	for v, want := range map[string]string{
		xdg:        filepath.Join(xdg, "semprox", "datasets"),
		"":         filepath.Join(home, ".cache", "semprox", "datasets"),
		"relative": filepath.Join(home, ".cache", "semprox", "datasets"),
	} {
		t.Setenv("XDG_CACHE_HOME", v)
		if got, err := DefaultCacheDir(); err != nil || got != want {
			t.Errorf("XDG_CACHE_HOME=%q: %q, %v; want %q", v, got, err, want)
		}
	}
	t.Setenv("XDG_CACHE_HOME", xdg)
	body, sum := cubArchive(t)
	serveCUB(t, body, sum)
	root, _, err := Download(context.Background(), "cub", "", nil)
	if want := filepath.Join(xdg, "semprox", "datasets", "cub", "CUB_200_2011"); err != nil || root != want {
		t.Errorf("Download into the default cache: %q, %v; want %q", root, err, want)
	}
}

// TestDownloadBadMD5 serves an archive whose MD5 is not the one expected: the error names the
// URL and both digests, and nothing is left in the data directory.
func TestDownloadBadMD5(t *testing.T) {
	body, sum := cubArchive(t)
	want := md5Hex([]byte("another archive"))
	srv := serveCUB(t, body, want)
	dir := t.TempDir()
	_, _, err := Download(context.Background(), "cub", dir, nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{srv.URL + "/CUB_200_2011.tgz", sum, want} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	if left := listTree(t, dir); len(left) != 0 {
		t.Errorf("left in the data directory: %v", left)
	}
}

// TestDownloadResumes cuts the first answer half way: the download resumes with a Range
// request in the same call. A partial file left by an earlier run is resumed too.
func TestDownloadResumes(t *testing.T) {
	body, sum := cubArchive(t)
	srv := serveCUB(t, body, sum)
	srv.cutFirst = true
	dir := t.TempDir()
	var progress bytes.Buffer
	root, _, err := Download(context.Background(), "cub", dir, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	n, ranges := srv.requests()
	if n != 2 || ranges[0] != "" || ranges[1] != "bytes="+strconv.Itoa(len(body)/2)+"-" {
		t.Errorf("requests %d with ranges %q, want a whole one and one from byte %d", n, ranges, len(body)/2)
	}
	if _, err := ReadCUB(root); err != nil {
		t.Error(err)
	}

	dir = t.TempDir()
	srv = serveCUB(t, body, sum)
	writeFile(t, filepath.Join(dir, "cub", "CUB_200_2011.tgz.incomplete"), body[:1000])
	if _, _, err := Download(context.Background(), "cub", dir, nil); err != nil {
		t.Fatal(err)
	}
	if n, ranges := srv.requests(); n != 1 || ranges[0] != "bytes=1000-" {
		t.Errorf("requests %d with ranges %q, want one from byte 1000", n, ranges)
	}
}

// hostileCUB returns a CUB-looking archive with the given entries after a valid images.txt.
func hostileCUB(t *testing.T, entries ...tar.Header) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "CUB_200_2011/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "CUB_200_2011/images.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2})
	tw.Write([]byte("1\n"))
	for _, h := range entries {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(make([]byte, h.Size))
	}
	tw.Close()
	zw.Close()
	return b.Bytes()
}

// TestDownloadHostileArchive serves archives with an entry that escapes and with links: each is
// refused naming the entry, nothing is written outside the data directory, no dataset directory
// is left, and the verified archive is kept, so a second try fails the same way without a
// request.
func TestDownloadHostileArchive(t *testing.T) {
	for _, c := range []struct {
		name  string
		entry tar.Header
		is    error
	}{
		{"dotdot", tar.Header{Name: "CUB_200_2011/../../evil", Typeflag: tar.TypeReg, Mode: 0o644, Size: 4}, archive.ErrUnsafePath},
		{"symlink", tar.Header{Name: "CUB_200_2011/images", Typeflag: tar.TypeSymlink, Linkname: "../../.."}, archive.ErrLink},
		{"hardlink", tar.Header{Name: "CUB_200_2011/evil", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}, archive.ErrLink},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := hostileCUB(t, c.entry)
			srv := serveCUB(t, body, md5Hex(body))
			base := t.TempDir()
			dir := filepath.Join(base, "data")
			for try := range 2 {
				_, _, err := Download(context.Background(), "cub", dir, nil)
				if !errors.Is(err, c.is) || !strings.Contains(err.Error(), `"`+c.entry.Name+`"`) ||
					!strings.Contains(err.Error(), "the verified archive is kept") {
					t.Fatalf("try %d: error %v, want %v naming %q", try, err, c.is, c.entry.Name)
				}
				if got, want := listTree(t, base), []string{"data/", "data/cub/", "data/cub/CUB_200_2011.tgz"}; !slices.Equal(got, want) {
					t.Errorf("try %d: left %v, want %v", try, got, want)
				}
				srv.Close()
			}
			if n, _ := srv.requests(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// TestDownloadUnreadable serves an archive that unpacks to CUB_200_2011/ without CUB's lists:
// the error says so, nothing unpacked is left, and the archive is kept.
func TestDownloadUnreadable(t *testing.T) {
	body := hostileCUB(t)
	serveCUB(t, body, md5Hex(body))
	dir := t.TempDir()
	_, _, err := Download(context.Background(), "cub", dir, nil)
	var le *LayoutError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "holds no readable cub dataset") || !strings.Contains(err.Error(), "image_class_labels.txt") {
		t.Fatalf("error %v", err)
	}
	if got, want := listTree(t, dir), []string{"cub/", "cub/CUB_200_2011.tgz"}; !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
}

// TestDownloadKeptArchive uses an archive kept from an earlier try without a request when its
// MD5 matches, and downloads it again when it does not.
func TestDownloadKeptArchive(t *testing.T) {
	body, sum := cubArchive(t)
	srv := serveCUB(t, body, sum)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "cub", "CUB_200_2011.tgz"), body)
	var progress bytes.Buffer
	if _, _, err := Download(context.Background(), "cub", dir, &progress); err != nil {
		t.Fatal(err)
	}
	if n, _ := srv.requests(); n != 0 || !strings.Contains(progress.String(), "checking the archive kept from an earlier try") {
		t.Errorf("%d requests for a kept archive; progress:\n%s", n, progress.String())
	}

	dir = t.TempDir()
	writeFile(t, filepath.Join(dir, "cub", "CUB_200_2011.tgz"), body[:100])
	progress.Reset()
	if _, _, err := Download(context.Background(), "cub", dir, &progress); err != nil {
		t.Fatal(err)
	}
	if n, _ := srv.requests(); n != 1 || !strings.Contains(progress.String(), "expected "+sum+"; downloading it again") {
		t.Errorf("%d requests for a damaged kept archive; progress:\n%s", n, progress.String())
	}
}

// TestDownloadExistingBroken refuses a dataset directory that is there but unreadable, without
// a request and without touching it.
func TestDownloadExistingBroken(t *testing.T) {
	body, sum := cubArchive(t)
	srv := serveCUB(t, body, sum)
	dir := t.TempDir()
	root := filepath.Join(dir, "cub", "CUB_200_2011")
	writeText(t, filepath.Join(root, "images.txt"), "1 001.A/a.jpg")
	_, _, err := Download(context.Background(), "cub", dir, nil)
	if err == nil || !strings.Contains(err.Error(), root+" is there but is not a readable cub dataset (remove it to download it again)") {
		t.Errorf("error %v", err)
	}
	if n, _ := srv.requests(); n != 0 {
		t.Errorf("%d requests", n)
	}
	if got := listTree(t, dir); !slices.Equal(got, []string{"cub/", "cub/CUB_200_2011/", "cub/CUB_200_2011/images.txt"}) {
		t.Errorf("data directory changed: %v", got)
	}
}

// TestDownloadEnvironment checks the overrides: a URL alone keeps the official MD5 and size (a
// mirror serves the same bytes), an MD5 makes the size unknown, malformed values are errors
// naming the variable.
func TestDownloadEnvironment(t *testing.T) {
	k, _ := Lookup("cub")
	t.Setenv("SEMPROX_CUB_URL", "https://mirror.example/CUB_200_2011.tgz")
	s, err := source(k)
	if err != nil || s.URL != "https://mirror.example/CUB_200_2011.tgz" || s.MD5 != cubSource.MD5 || s.Size != cubSource.Size {
		t.Errorf("URL override: %+v, %v", s, err)
	}
	t.Setenv("SEMPROX_CUB_MD5", strings.ToUpper(md5Hex(nil)))
	if s, err := source(k); err != nil || s.MD5 != md5Hex(nil) || s.Size != 0 || s.Root != "CUB_200_2011" {
		t.Errorf("MD5 override: %+v, %v", s, err)
	}
	t.Setenv("SEMPROX_CUB_MD5", strings.ToUpper(cubSource.MD5))
	if s, err := source(k); err != nil || s.Size != cubSource.Size {
		t.Errorf("MD5 override with the official MD5: %+v, %v", s, err)
	}
	for v, val := range map[string]string{"SEMPROX_CUB_URL": "ftp://x/y.tgz", "SEMPROX_CUB_MD5": "abc"} {
		t.Run(v, func(t *testing.T) {
			t.Setenv(v, val)
			_, _, err := Download(context.Background(), "cub", t.TempDir(), nil)
			if err == nil || !strings.Contains(err.Error(), v+"="+`"`+val+`"`) {
				t.Errorf("error %v does not name %s", err, v)
			}
		})
	}

	// A URL alone against the test server: the official size (and MD5) still apply.
	body, _ := cubArchive(t)
	srv := newArchiveServer(t, body)
	t.Setenv("SEMPROX_CUB_URL", srv.URL+"/mirror/CUB_200_2011.tgz")
	t.Setenv("SEMPROX_CUB_MD5", "")
	dir := t.TempDir()
	_, _, err = Download(context.Background(), "cub", dir, nil)
	if err == nil || !strings.Contains(err.Error(), srv.URL+"/mirror/CUB_200_2011.tgz") || !strings.Contains(err.Error(), "expected 1150585339") {
		t.Errorf("mirror of other bytes: %v", err)
	}
	if left := listTree(t, dir); len(left) != 0 {
		t.Errorf("left in the data directory: %v", left)
	}

	if got := EnvPrefix("fashion-mnist"); got != "SEMPROX_FASHION_MNIST_" {
		t.Errorf("EnvPrefix(fashion-mnist) = %q", got)
	}
}

// TestDownloadNoSource checks the datasets without a download: the error wraps ErrNoDownload
// and says where to get the dataset and what -data needs; a copy already there is found, in
// the cache or named directly; mnist needs nothing.
func TestDownloadNoSource(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SEMPROX_SOP_URL", "https://example.com/sop.zip")
	for name, says := range map[string][]string{
		"sop":     {"Stanford_Online_Products", "Ebay_train.txt", "Ebay_test.txt", filepath.Join(dir, "sop", "Stanford_Online_Products"), "SEMPROX_SOP_URL replaces only"},
		"In-Shop": {InShopRoot, "Eval/list_eval_partition.txt", "Img/img/", filepath.Join(dir, "inshop", InShopRoot)},
		"cars196": {"cars_annos.mat", "car_ims/"},
		"inat":    {"Inaturalist_train_set1.txt"},
	} {
		_, _, err := Download(context.Background(), name, dir, nil)
		if !errors.Is(err, ErrNoDownload) {
			t.Errorf("%s: %v, want ErrNoDownload", name, err)
			continue
		}
		for _, s := range says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not say %q", name, err, s)
			}
		}
	}
	if left := listTree(t, dir); len(left) != 0 {
		t.Errorf("left in the data directory: %v", left)
	}

	root := filepath.Join(dir, "inshop", InShopRoot)
	writeInShop(t, root, "Eval/list_eval_partition.txt", "Img")
	for _, d := range []string{dir, root} {
		if got, _, err := Download(context.Background(), "inshop", d, nil); err != nil || got != root {
			t.Errorf("In-Shop in %s: %q, %v", d, got, err)
		}
	}
	if got, _, err := Download(context.Background(), "mnist", "", nil); err != nil || got != "" {
		t.Errorf("mnist: %q, %v", got, err)
	}
	if _, _, err := Download(context.Background(), "imagenet", dir, nil); err == nil || !strings.Contains(err.Error(), "unknown dataset") {
		t.Errorf("unknown dataset: %v", err)
	}
}

// TestDownloadCancelled stops a download with its context; the partial file stays to resume.
func TestDownloadCancelled(t *testing.T) {
	body, sum := cubArchive(t)
	serveCUB(t, body, sum)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	if _, _, err := Download(ctx, "cub", dir, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cub", "CUB_200_2011")); err == nil {
		t.Error("a dataset directory after a cancelled download")
	}
}

// TestKindsSources checks the table's download rows: CUB's official source as DESIGN gives
// it, every source complete, every dataset read from a directory telling where to get it.
func TestKindsSources(t *testing.T) {
	k, _ := Lookup("cub")
	if s := k.Source; s.URL != "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz" ||
		s.MD5 != "97eceeb196236b17998738112f37df78" || s.Size != 1150585339 || s.Root != "CUB_200_2011" || s.Archive != "CUB_200_2011.tgz" {
		t.Errorf("cub source %+v", s)
	}
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, k := range Kinds {
		if s := k.Source; s.URL != "" && (!hex32.MatchString(s.MD5) || s.Archive == "" || s.Root == "" || s.MaxBytes <= s.Size || s.MaxFiles <= 0) {
			t.Errorf("%s: incomplete source %+v", k.Name, s)
		}
		if k.GetFrom == "" {
			t.Errorf("%s: no GetFrom", k.Name)
		}
	}
}
