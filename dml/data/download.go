package data

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/semprox/semprox/internal/archive"
	"github.com/semprox/semprox/internal/httpfetch"
	"github.com/semprox/semprox/internal/units"
)

// Source is where a dataset's archive is downloaded from and what it unpacks to. A Source
// without a URL has no download: only its Root says where [Download] looks for a copy put in
// the cache by hand.
type Source struct {
	URL     string // the archive's official address; "" when there is no stable one
	MD5     string // the archive's MD5, hex
	Size    int64  // the archive's size in bytes; 0 when unknown
	Archive string // the file name the archive is saved under while it is unpacked
	Root    string // the directory the archive unpacks to, which the reader reads
	// MaxBytes and MaxFiles bound the unpacked archive, generously over the real dataset, so
	// that a wrong or hostile archive cannot fill the disk.
	MaxBytes int64
	MaxFiles int
}

// ErrNoDownload is the error (wrapped) of [Download] for a dataset without a download source;
// the message says where to get the dataset.
var ErrNoDownload = errors.New("no automatic download")

// The official source of CUB-200-2011 (CaltechDATA).
var cubSource = Source{
	URL:      "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz",
	MD5:      "97eceeb196236b17998738112f37df78",
	Size:     1_150_585_339,
	Archive:  "CUB_200_2011.tgz",
	Root:     "CUB_200_2011",
	MaxBytes: 4 << 30, // the dataset unpacks to about 1.2 GB
	MaxFiles: 50_000,  // of about 12,000 files and directories
}

// DefaultCacheDir returns where [Download] keeps datasets when no directory is given:
// $XDG_CACHE_HOME/semprox/datasets, else ~/.cache/semprox/datasets (on every system).
func DefaultCacheDir() (string, error) {
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "semprox", "datasets"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("data: no cache directory for datasets (set XDG_CACHE_HOME or pass a data directory): %w", err)
	}
	return filepath.Join(home, ".cache", "semprox", "datasets"), nil
}

// EnvPrefix returns the prefix of the environment variables that override a dataset's source:
// SEMPROX_<NAME>_ with the dataset's canonical name in upper case, '-' as '_' (SEMPROX_CUB_).
// <prefix>URL replaces the URL (a mirror: the official MD5 and size still apply), <prefix>MD5
// the MD5 (and makes the size unknown).
func EnvPrefix(name string) string {
	return "SEMPROX_" + strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		case 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
			return r
		}
		return '_'
	}, name) + "_"
}

// source returns k's Source with the environment's overrides applied; an override that is not a
// URL or an MD5 is an error naming the variable.
func source(k Kind) (Source, error) {
	s := k.Source
	pre := EnvPrefix(k.Name)
	if u := os.Getenv(pre + "URL"); u != "" && s.URL != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return s, fmt.Errorf("data: %sURL=%q is not an http or https URL", pre, u)
		}
		s.URL = u
	}
	if m := os.Getenv(pre + "MD5"); m != "" && s.URL != "" {
		if b, err := hex.DecodeString(m); err != nil || len(b) != md5.Size {
			return s, fmt.Errorf("data: %sMD5=%q is not an MD5 (32 hex digits)", pre, m)
		}
		if !strings.EqualFold(m, s.MD5) {
			s.MD5, s.Size = strings.ToLower(m), 0 // other bytes, of a size not known
		}
	}
	return s, nil
}

// Download makes the dataset called name (a name or alias of [Kinds]) ready to read, and
// returns the directory its reader reads and the dataset read from it. dir is the -data
// directory, "" for [DefaultCacheDir]. progress receives the download's progress and a line
// for each step (nil: none).
//
// If dir, when given, holds the dataset itself (its reader succeeds on it) or holds it as
// dir/<Root> (an unpacked copy), or if dir/<name>/<Root> does (a copy downloaded before), that
// directory is returned with no network access; so is "" for a dataset whose reader needs no
// directory (mnist) when dir is "". Otherwise the
// archive is downloaded to dir/<name>/<Archive> (resumably, through a .incomplete file, and
// checked against its MD5 and size), unpacked into dir/<name>/<Root> (atomically: the directory
// appears whole or not at all) within the Source's limits, read once to check it, and deleted.
// If unpacking or reading fails, nothing unpacked is left and the verified archive is kept, so
// that another try does not download it again. The environment may replace the URL and the MD5
// (see [EnvPrefix]). A dataset without a download source is an error wrapping [ErrNoDownload]
// that says where to get it.
func Download(ctx context.Context, name, dir string, progress io.Writer) (root string, ds *Dataset, err error) {
	k, err := Lookup(name)
	if err != nil {
		return "", nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	switch {
	case dir == "" && !k.NeedsDir:
		if ds, err := k.Read(""); err == nil {
			return "", ds, nil // nothing to download: the reader needs no directory
		}
		return "", nil, noDownload(k, "")
	case dir == "":
		if dir, err = DefaultCacheDir(); err != nil {
			return "", nil, err
		}
	default:
		if ds, err := k.Read(dir); err == nil {
			return dir, ds, nil
		}
		if r := k.Source.Root; r != "" {
			p := filepath.Join(dir, filepath.FromSlash(r))
			if ds, err := k.Read(p); err == nil {
				return p, ds, nil // dir is the parent of an unpacked copy
			}
		}
	}
	src, err := source(k)
	if err != nil {
		return "", nil, err
	}
	kindDir := filepath.Join(dir, k.Name)
	root = filepath.Join(kindDir, filepath.FromSlash(src.Root))
	if _, err := os.Lstat(root); err == nil && src.Root != "" {
		ds, err := k.Read(root)
		if err != nil {
			return "", nil, fmt.Errorf("data: %s is there but is not a readable %s dataset (remove it to download it again): %w", root, k.Name, err)
		}
		return root, ds, nil
	}
	if src.URL == "" {
		return "", nil, noDownload(k, root)
	}
	if err := os.MkdirAll(kindDir, 0o755); err != nil {
		return "", nil, fmt.Errorf("data: %w", err)
	}
	archivePath := filepath.Join(kindDir, src.Archive)
	if err := fetchArchive(ctx, k.Name, src, archivePath, progress); err != nil {
		os.Remove(kindDir) // only if empty
		return "", nil, err
	}
	if ds, err = unpack(k, src, archivePath, root, progress); err != nil {
		return "", nil, err
	}
	return root, ds, nil
}

// noDownload is the error of a dataset without a download source.
func noDownload(k Kind, root string) error {
	where := k.GetFrom
	if where == "" {
		where = "see docs/datasets.md"
	}
	msg := fmt.Sprintf("data: %s: %v: %s", k.Name, ErrNoDownload, where)
	if root != "" && k.Source.Root != "" {
		msg += fmt.Sprintf(" (-download also finds a copy unpacked at %s)", root)
	}
	if os.Getenv(EnvPrefix(k.Name)+"URL") != "" {
		msg += fmt.Sprintf("; %sURL replaces only the URL of a dataset that has a download", EnvPrefix(k.Name))
	}
	return &noDownloadError{msg}
}

type noDownloadError struct{ msg string }

func (e *noDownloadError) Error() string { return e.msg }
func (e *noDownloadError) Unwrap() error { return ErrNoDownload }

// fetchArchive puts the verified archive at path: one kept from an earlier try if it still
// matches the MD5, else a download.
func fetchArchive(ctx context.Context, name string, src Source, path string, progress io.Writer) error {
	if _, err := os.Stat(path); err == nil {
		fmt.Fprintf(progress, "%s: checking the archive kept from an earlier try, %s\n", name, path)
		got, err := fileMD5(path)
		if err == nil && strings.EqualFold(got, src.MD5) {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("its MD5 is %s, expected %s", got, src.MD5)
		}
		fmt.Fprintf(progress, "%s: %v; downloading it again\n", name, err)
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("data: %w", err)
		}
	}
	maxBytes := src.Size
	if maxBytes == 0 {
		maxBytes = src.MaxBytes // an archive holds no more than it unpacks to, give or take its headers
	}
	err := httpfetch.Fetch(ctx, httpfetch.Request{
		URL:      src.URL,
		Dest:     path,
		Size:     src.Size,
		Checksum: httpfetch.Checksum{Algorithm: "md5", Hex: src.MD5},
		MaxBytes: maxBytes,
		Label:    name + " " + src.Archive,
		Progress: progress,
	})
	if err != nil {
		partial := path + ".incomplete"
		if fi, serr := os.Stat(partial); serr == nil && fi.Size() == 0 {
			os.Remove(partial) // nothing to resume
		}
		return fmt.Errorf("data: downloading %s: %w", name, err)
	}
	return nil
}

// unpack extracts the archive at path into root, reads the dataset there and deletes the
// archive; on failure it leaves no root and keeps the archive.
func unpack(k Kind, src Source, path, root string, progress io.Writer) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	fmt.Fprintf(progress, "%s: extracting %s into %s\n", k.Name, path, root)
	st, err := archive.ExtractAtomicDir(f, root, src.Root, archive.Limits{MaxBytes: src.MaxBytes, MaxFiles: src.MaxFiles})
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("data: extracting %s: %w (nothing was extracted; the verified archive is kept, so another try will not download it again)", path, err)
	}
	ds, err := k.Read(root)
	if err != nil {
		if rerr := os.RemoveAll(root); rerr != nil {
			return nil, fmt.Errorf("data: %s, extracted from %s, is not a readable %s dataset (%v), and removing it failed: %w", root, path, k.Name, err, rerr)
		}
		return nil, fmt.Errorf("data: %s holds no readable %s dataset (what it unpacked to was removed; the archive is kept): %w", path, k.Name, err)
	}
	if err := os.Remove(path); err != nil {
		return nil, fmt.Errorf("data: %s is ready, but removing the archive failed: %w", root, err)
	}
	fmt.Fprintf(progress, "%s: extracted %d files (%s) into %s; removed the archive %s\n", k.Name, st.Files, units.Bytes(st.Bytes), root, path)
	return ds, nil
}

// fileMD5 returns the MD5 of the file at path, hex.
func fileMD5(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
