// Package dml is the deep-metric-learning method of semprox (VPTSP) and its training runs.
//
// The method: the Proxy-Anchor loss (ProxyAnchor), semantic proxies learned from class prompts
// (PromptBank) and accumulated in a class memory (ClassMemory: EMA or the GRU cell), the
// learnable proxy bias, and the Model that combines them on a ViT for each fine-tuning method
// of the paper (Method). Trainer runs the optimisation step by step; Loop drives it over epochs
// with evaluations and checkpoints.
//
// The configuration: a Preset is a ModelConfig, a TrainConfig and a BatchShape under a name
// (Presets holds the released ones); a RunConfig adds the dataset, the backbone and how the run
// executes, and is what a run directory's config.json holds.
//
// The entry point: Train (or NewSession, Session.Describe, Session.Run) reads the dataset (a
// row of data.Kinds), loads the backbone, trains into a run directory (config.json, metrics.jsonl,
// checkpoints, plots), resumes from it, and returns the evaluation history; cmd/train is a layer
// of flags over it. LoadBackbone reads the backbone from a file or, by its timm name, from the
// Hugging Face hub; DefaultWeights is the paper's backbone of a preset. PaperResultFor holds the
// paper's published results, which a run's summary prints beside its own.
package dml
