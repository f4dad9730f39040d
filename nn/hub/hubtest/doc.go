// Package hubtest runs a fake Hugging Face hub for tests: an httptest server that answers
// HEAD and GET of /{repo}/resolve/{revision}/{filename} as the real hub does, and a second
// server, on another host name, that plays its CDN.
//
// Set HF_ENDPOINT to [Server.URL] (or hub.Client.Endpoint) and a program fetches the repositories
// given to [New] from it. Large files (model weights: .safetensors, .bin, .pth, .pt, .npz ...)
// are served as the hub serves files kept in Git LFS: the HEAD answers X-Linked-Etag, the sha256 of
// the content, and X-Linked-Size, and the GET redirects (302) to the CDN, which honours Range
// requests. Small files (config.json) answer an ETag that is the git blob hash of the content.
// Every answer carries X-Repo-Commit, a commit hash made from the repository's content; the
// revision may be main or that commit. Errors carry X-Error-Code as the hub's do (RepoNotFound,
// RevisionNotFound, EntryNotFound, GatedRepo).
//
// Options make it misbehave: a gated repository ([Server.Gate]), a download cut half way
// ([Server.CutOnce]), content that does not match its sha256 ([Server.Corrupt]); [Server.Stats]
// counts what it served.
package hubtest
