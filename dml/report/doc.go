// Package report is the run reporting of a training run: per-step progress on a terminal (a
// progress bar) or in a log (plain lines at a bounded rate), one-line evaluation summaries, the
// metrics.jsonl log of epochs (append, fsync, atomic truncation when a run resumes), the loss and
// recall plots, and the end-of-run summary table.
//
// report deals only in numbers, files and writers (its files are written with internal/atomicfile):
// it knows nothing of models, data sets or how the metrics were computed. The training command fills Epoch and Eval values and
// hands them over.
package report
