// Package metrics evaluates deep-metric-learning embeddings by retrieval: exact k-nearest
// neighbours by blocked SGEMM similarity, and the metrics of pytorch-metric-learning's
// AccuracyCalculator (Recall@K, precision@1, R-precision, MAP@R, MAP) together with NMI from
// k-means.
//
// Embeddings are dense row-major float32 matrices (one embedding per row); labels are int64 class
// ids, one per row. Neighbours are ranked by cosine similarity (the inner product; callers
// L2-normalise first, see Normalize) or by Euclidean distance. Equal scores rank the smaller
// reference index first, so results are deterministic and independent of the thread count.
//
// Memory stays O(block x references): the full query x reference similarity matrix is never
// formed. The package knows nothing of models, images or training.
package metrics
