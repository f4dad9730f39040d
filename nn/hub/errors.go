package hub

import (
	"fmt"
	"strings"
)

// errKind is what went wrong in a hubError.
type errKind int

const (
	errUnreachable errKind = iota + 1 // the network failed or the hub answered 5xx, and the cache has no copy
	errOffline                        // offline, and the cache has no copy
	errDenied                         // 401 or 403: gated or private
	errNoRepo                         // no such repository
	errNoRevision                     // no such branch, tag or commit
	errNoFile                         // no such file at the revision
)

// hubError is an error about one file of one repository; its message names the model, the file,
// the endpoint or cache path, and what to do.
type hubError struct {
	kind                           errKind
	repo, revision, file, endpoint string
	tokenSent                      bool
	status, message                string // the HTTP status and the hub's X-Error-Message
	cause                          error  // the network error (errUnreachable)
	cachePath                      string // where the cache was looked in (errUnreachable, errOffline)
}

// errorf makes a hubError of kind about file, with what opts set.
func (c *Client) errorf(kind errKind, repo, revision, file string, opts ...func(*hubError)) *hubError {
	e := &hubError{kind: kind, repo: repo, revision: revision, file: file, endpoint: c.endpoint(), tokenSent: c.Token != ""}
	for _, o := range opts {
		o(e)
	}
	return e
}

func (e *hubError) Error() string {
	var b strings.Builder
	switch e.kind {
	case errUnreachable:
		fmt.Fprintf(&b, "model %s: cannot reach the hub (%s) for %s at revision %s: %v; the cache has no copy of it (looked for %s): check the network, the proxy (HTTPS_PROXY) or HF_ENDPOINT",
			e.repo, e.endpoint, e.file, e.revision, e.cause, e.cachePath)
	case errOffline:
		fmt.Fprintf(&b, "model %s: %s at revision %s is not in the hub cache (looked for %s), and HF_HUB_OFFLINE is set, so nothing is downloaded: unset HF_HUB_OFFLINE to download it",
			e.repo, e.file, e.revision, e.cachePath)
	case errDenied:
		fmt.Fprintf(&b, "model %s is gated or private: the hub (%s) answered %s for %s", e.repo, e.endpoint, e.status, e.file)
		e.writeMessage(&b)
		if e.tokenSent {
			fmt.Fprintf(&b, "; the token sent (HF_TOKEN or the token file) has no access to it: accept its terms on %s/%s with that account, or set HF_TOKEN to a token that has access",
				e.endpoint, e.repo)
		} else {
			fmt.Fprintf(&b, "; no token was sent: set HF_TOKEN to an access token (%s/settings/tokens) of an account that has access to it (accept its terms on %s/%s)",
				e.endpoint, e.endpoint, e.repo)
		}
	case errNoRepo:
		fmt.Fprintf(&b, "no model %s on the hub (endpoint %s)", e.repo, e.endpoint)
		if !e.tokenSent && strings.HasPrefix(e.status, "401") {
			b.WriteString(", or it is private: set HF_TOKEN to a token that has access to it")
		}
	case errNoRevision:
		fmt.Fprintf(&b, "model %s has no revision %q on the hub (endpoint %s)", e.repo, e.revision, e.endpoint)
	case errNoFile:
		fmt.Fprintf(&b, "model %s has no file %s at revision %s (endpoint %s)", e.repo, e.file, e.revision, e.endpoint)
	default:
		fmt.Fprintf(&b, "model %s: %s", e.repo, e.file)
	}
	return b.String()
}

func (e *hubError) writeMessage(b *strings.Builder) {
	if e.message != "" {
		fmt.Fprintf(b, " (the hub says: %q)", e.message)
	}
}

func (e *hubError) Unwrap() error { return e.cause }
