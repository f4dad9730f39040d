// Package httpfetch downloads one file over HTTP so that it can be trusted once it is there: the
// bytes go to a partial file, an interrupted download resumes from what the partial file holds
// (an HTTP Range request), the size and an optional checksum (sha256 or md5) are checked over the
// whole file, and only then is the partial file synced and renamed to its final path. A reader of
// the final path never sees a part of a file or one that failed its checksum.
//
// [Fetch] is the one entry point; a [Request] names the URL, the final and the partial path, and
// what the bytes must match. Progress goes to an io.Writer: a progress bar on a terminal, plain
// lines elsewhere. Proxies come from the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY).
//
// httpfetch knows HTTP and files, nothing of what it downloads: data sets and model hubs build
// their URLs, caches and checksums on top of it.
package httpfetch
