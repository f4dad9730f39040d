// Package embedder embeds images with a Vision Transformer outside training: a timm, DINO or
// AugReg checkpoint, a model of the Hugging Face hub, or a model trained by cmd/train. It holds
// what cmd/embed and the Apache Beam pipeline of the beam module share (the flags, the loading
// of the model, the preprocessing and the forward pass), so that both give the same embedding
// of an image bit for bit, whatever the batch it is in.
//
//	var o embedder.Options
//	fs := flag.NewFlagSet("embed", flag.ContinueOnError)
//	o.Register(fs)
//	fs.Parse(args)
//	o.Parsed(fs)
//	e, err := embedder.Load(ctx, o, os.Stderr)
//	row := batch.Row(i).Data() // batch is [B, 3, Crop, Crop]
//	err = e.Preprocess.ApplyFile(row, path)
//	emb := e.Embed(batch) // [B, D]
package embedder
