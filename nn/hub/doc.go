// Package hub finds model weights by name on the Hugging Face hub and keeps them in the cache
// that Python's huggingface_hub uses, so that a file downloaded by either is found by the other.
//
// A reference names a repository: a timm model name with its pretrained tag
// (vit_small_patch16_224.augreg_in21k, which is the repository timm/vit_small_patch16_224.augreg_in21k)
// or hf-hub:ORG/NAME, optionally with @REVISION (see [ParseReference]). [Client.Model] fetches a
// repository's config.json, read as timm's pretrained configuration ([PretrainedConfig]), and its
// weights, model.safetensors or else pytorch_model.bin; [Client.File] fetches any one file.
//
// The hub's conventions, as huggingface_hub follows them: a file is
// {endpoint}/{repo}/resolve/{revision}/{filename}; a HEAD request, without following a redirect,
// answers the commit (X-Repo-Commit), the etag (X-Linked-Etag or ETag, the sha256 of the content
// for large files) and the size (X-Linked-Size or Content-Length); the GET of a large file is
// redirected to a CDN. In the cache a repository lives in models--{org}--{name}/ with the
// content in blobs/{etag}, a partial download in blobs/{etag}.incomplete, each file of a commit
// as snapshots/{commit}/{filename}, a relative symbolic link to its blob (a copy where links
// cannot be made), refs/{revision} holding the commit a branch or tag pointed to, and lock files
// in .locks/models--{org}--{name}/{etag}.lock.
//
// The environment ([FromEnv]): HF_ENDPOINT, HF_TOKEN (else the token file, HF_TOKEN_PATH or
// $HF_HOME/token), HF_HUB_CACHE (else $HF_HOME/hub, else ~/.cache/huggingface/hub) and
// HF_HUB_OFFLINE, which forbids the network: files come from the cache or not at all.
//
// Downloads go through internal/httpfetch: they resume after an interruption, a large file is
// checked against its sha256, and a broken download leaves no blob or snapshot link behind.
// Subpackage hubtest is a fake hub for tests. hub knows HTTP, files and config.json; it knows
// nothing of the networks that read the weights.
package hub
