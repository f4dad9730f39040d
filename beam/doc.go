// Package beam is the root of semprox's Apache Beam module: embedding and exact retrieval of
// image collections too large for one machine, as Beam pipelines that run locally on the
// in-process Prism runner or on Dataflow, Flink or Spark.
//
//   - beam/cmd/embed embeds every image of a manifest or a glob into sharded .npy files
//     (package embedpipe), with a rejects file for the images it could not read.
//   - beam/cmd/gather joins the shards into the single .npy, names and labels files that
//     cmd/eval reads.
//   - beam/cmd/retrieve ranks a gallery split into shards for every query and computes
//     cmd/eval's metrics (package retrieve).
//   - package shards is the shard files' format, read and written through Beam's filesystems
//     (local files, gs://, s3://).
//
// It is a module of its own, so that the engine's dependencies stay as they are for the
// programs that embed it.
package beam
