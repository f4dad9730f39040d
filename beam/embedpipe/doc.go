// Package embedpipe is the embedding pipeline: every image of a manifest or a glob, on any Beam
// filesystem, embedded as cmd/embed embeds it and written as shards (see package shards), with
// the images it could not read in a rejects file.
//
// The pipeline:
//
//	expand     one worker reads the manifest, or lists the glob, and numbers the images in
//	           input order (a glob's matches sorted), each assigned to its shard
//	reshuffle  spreads the images over the workers
//	embed      reads, decodes and preprocesses the images of a bundle in parallel and embeds
//	           them in batches of up to Config.Batch, with the model each worker loads once
//	           (dml/embedder: the flags and the bits of cmd/embed); an image that cannot be read
//	           or decoded goes to the rejects with the reason, and is counted
//	write      one worker per shard sorts its rows by input order and writes the shard's files
//	rejects    one worker writes PREFIX-rejects.jsonl, one JSON object a line
//
// Every row's embedding depends on its image alone, not on the batch it was in, so the shards
// hold what cmd/embed writes for the same images, bit for bit.
package embedpipe
