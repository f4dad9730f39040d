package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/semprox/semprox/tensor"
)

// Epoch is one line of metrics.jsonl.
//
// In JSON a non-finite float (a diverged loss, say) is written as null and read back as NaN.
type Epoch struct {
	Epoch        int     `json:"epoch"`          // 1-based
	Loss         float64 `json:"loss"`           // mean over the epoch's steps
	LR           float64 `json:"lr"`             // learning rate
	Steps        int     `json:"steps"`          // optimiser steps of the epoch
	Images       int     `json:"images"`         // training images of the epoch
	Seconds      float64 `json:"seconds"`        // training time of the epoch (without evaluation)
	ImagesPerSec float64 `json:"images_per_sec"` // Images / Seconds
	Eval         *Eval   `json:"eval,omitempty"` // nil when the epoch was not evaluated
	Best         bool    `json:"best,omitempty"` // this evaluation is the best R@1 so far
}

// epochJSON is the wire form of Epoch: nil stands for a non-finite value.
type epochJSON struct {
	Epoch        int      `json:"epoch"`
	Loss         *float64 `json:"loss"`
	LR           *float64 `json:"lr"`
	Steps        int      `json:"steps"`
	Images       int      `json:"images"`
	Seconds      *float64 `json:"seconds"`
	ImagesPerSec *float64 `json:"images_per_sec"`
	Eval         *Eval    `json:"eval,omitempty"`
	Best         bool     `json:"best,omitempty"`
}

// MarshalJSON writes e with non-finite values as null.
func (e Epoch) MarshalJSON() ([]byte, error) {
	return json.Marshal(epochJSON{
		Epoch: e.Epoch, Loss: finite(e.Loss), LR: finite(e.LR), Steps: e.Steps, Images: e.Images,
		Seconds: finite(e.Seconds), ImagesPerSec: finite(e.ImagesPerSec), Eval: e.Eval, Best: e.Best,
	})
}

// UnmarshalJSON reads e, null (or a missing number) as NaN.
func (e *Epoch) UnmarshalJSON(b []byte) error {
	var w epochJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = Epoch{
		Epoch: w.Epoch, Loss: orNaN(w.Loss), LR: orNaN(w.LR), Steps: w.Steps, Images: w.Images,
		Seconds: orNaN(w.Seconds), ImagesPerSec: orNaN(w.ImagesPerSec), Eval: w.Eval, Best: w.Best,
	}
	return nil
}

// Log appends epochs to a metrics.jsonl file, one JSON object a line.
type Log struct {
	f *os.File
}

// OpenLog opens the metrics log at path for appending. It first keeps only the records of the
// first keep epochs (Epoch <= keep) and drops the rest: a run that resumes after keep completed
// epochs loses the lines of a later, interrupted epoch. The rewrite is atomic (a temporary file in
// the same directory, then a rename). keep = 0 starts a fresh, empty file; so does a missing file.
//
// A malformed line is an error, except a last line without its newline, which is the torn write
// of an interrupted run and is dropped.
func OpenLog(path string, keep int) (*Log, error) {
	if keep < 0 {
		return nil, fmt.Errorf("report: OpenLog %s: keep %d < 0", path, keep)
	}
	var kept []byte
	if keep > 0 {
		b, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("report: %w", err)
		}
		err = scan(path, b, true, func(e Epoch, line []byte) {
			if e.Epoch <= keep {
				kept = append(append(kept, line...), '\n')
			}
		})
		if err != nil {
			return nil, err
		}
	}
	if err := writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(kept)
		return err
	}); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return &Log{f: f}, nil
}

// Write appends e as one line and syncs the file to disk.
func (l *Log) Write(e Epoch) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("report: epoch %d: %w", e.Epoch, err)
	}
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Close closes the log file.
func (l *Log) Close() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// ReadLog reads every epoch of the metrics log at path, in file order. Blank lines are skipped; a
// malformed line is an error naming the file and the line number.
func ReadLog(path string) ([]Epoch, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var epochs []Epoch
	err = scan(path, b, false, func(e Epoch, _ []byte) { epochs = append(epochs, e) })
	return epochs, err
}

// scan decodes each non-blank line of b and calls f with the record and the line (without its
// newline). With tornTail, a malformed last line that lacks its newline is ignored.
func scan(path string, b []byte, tornTail bool, f func(Epoch, []byte)) error {
	for n := 1; len(b) > 0; n++ {
		line, rest, found := bytes.Cut(b, []byte{'\n'})
		b = rest
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e Epoch
		err := json.Unmarshal(line, &e)
		if err == nil && e.Epoch < 1 {
			err = fmt.Errorf("epoch %d < 1", e.Epoch)
		}
		if err != nil {
			if tornTail && !found {
				return nil
			}
			return fmt.Errorf("report: %s:%d: %w", path, n, err)
		}
		f(e, line)
	}
	return nil
}

// writeAtomic writes path atomically (see tensor.WriteAtomic), naming path in an error.
func writeAtomic(path string, write func(io.Writer) error) error {
	if err := tensor.WriteAtomic(path, write); err != nil {
		return fmt.Errorf("report: %s: %w", path, err)
	}
	return nil
}
