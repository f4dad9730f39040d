package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/semprox/semprox/internal/atomicfile"
)

// EpochRecord is one line of metrics.jsonl.
//
// In JSON a non-finite float (a diverged loss, say) is written as null and read back as NaN.
type EpochRecord struct {
	Epoch        int        `json:"epoch"`          // 1-based
	Loss         float64    `json:"loss"`           // mean over the epoch's steps
	LR           float64    `json:"lr"`             // learning rate
	Steps        int        `json:"steps"`          // optimiser steps of the epoch
	Images       int        `json:"images"`         // training images of the epoch
	Seconds      float64    `json:"seconds"`        // training time of the epoch (without evaluation)
	ImagesPerSec float64    `json:"images_per_sec"` // Images / Seconds
	Eval         *Retrieval `json:"eval,omitempty"` // nil when the epoch was not evaluated
	Best         bool       `json:"best,omitempty"` // this evaluation is the best R@1 so far
}

// epochJSON is the wire form of Epoch: nil stands for a non-finite value.
type epochJSON struct {
	Epoch        int        `json:"epoch"`
	Loss         *float64   `json:"loss"`
	LR           *float64   `json:"lr"`
	Steps        int        `json:"steps"`
	Images       int        `json:"images"`
	Seconds      *float64   `json:"seconds"`
	ImagesPerSec *float64   `json:"images_per_sec"`
	Eval         *Retrieval `json:"eval,omitempty"`
	Best         bool       `json:"best,omitempty"`
}

// MarshalJSON writes e with non-finite values as null.
func (e EpochRecord) MarshalJSON() ([]byte, error) {
	return json.Marshal(epochJSON{
		Epoch: e.Epoch, Loss: finite(e.Loss), LR: finite(e.LR), Steps: e.Steps, Images: e.Images,
		Seconds: finite(e.Seconds), ImagesPerSec: finite(e.ImagesPerSec), Eval: e.Eval, Best: e.Best,
	})
}

// UnmarshalJSON reads e, null (or a missing number) as NaN.
func (e *EpochRecord) UnmarshalJSON(b []byte) error {
	var w epochJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = EpochRecord{
		Epoch: w.Epoch, Loss: orNaN(w.Loss), LR: orNaN(w.LR), Steps: w.Steps, Images: w.Images,
		Seconds: orNaN(w.Seconds), ImagesPerSec: orNaN(w.ImagesPerSec), Eval: w.Eval, Best: w.Best,
	}
	return nil
}

// Log appends epochs to a metrics.jsonl file, one JSON object a line.
type Log struct {
	f *os.File
}

// CreateLog writes the metrics log at path afresh with the records of epochs, atomically (a
// temporary file in the same directory, then a rename), and opens it for appending: nil starts an
// empty log; a resumed run passes the history its checkpoint holds.
func CreateLog(path string, epochs []EpochRecord) (*Log, error) {
	if err := writeAtomic(path, func(w io.Writer) error {
		for _, e := range epochs {
			line, err := encodeLine(e)
			if err != nil {
				return err
			}
			w.Write(line) // w is buffered and keeps its first error; the flush reports it
		}
		return nil
	}); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return &Log{f: f}, nil
}

// CheckLog compares the metrics log at path with want, the records a checkpoint holds, and
// returns an error naming the file and the first line at fault: a record that is changed or out
// of order, a malformed line, or the line after which a record is missing. Records of epochs
// after want's last (of an epoch interrupted before its checkpoint) are not compared, and a torn
// last line is taken for one of them.
func CheckLog(path string, want []EpochRecord) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	last := 0
	if len(want) > 0 {
		last = want[len(want)-1].Epoch
	}
	i, at := 0, 0
	err = scan(path, b, true, func(e EpochRecord, line []byte, n int) error {
		if e.Epoch > last {
			return errStopScan
		}
		if i == len(want) || !bytes.Equal(line, bytes.TrimSuffix(mustEncode(want[i]), []byte{'\n'})) {
			return fmt.Errorf("report: %s:%d: the record of epoch %d differs from the one the checkpoint holds", path, n, e.Epoch)
		}
		i, at = i+1, n
		return nil
	})
	if err != nil {
		return err
	}
	if i < len(want) {
		return fmt.Errorf("report: %s: the record of epoch %d is missing after line %d", path, want[i].Epoch, at)
	}
	return nil
}

// encodeLine returns e as one line of JSON, newline included.
func encodeLine(e EpochRecord) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("report: epoch %d: %w", e.Epoch, err)
	}
	return append(b, '\n'), nil
}

// mustEncode is encodeLine for a record that was encoded before (a logged one).
func mustEncode(e EpochRecord) []byte {
	b, err := encodeLine(e)
	if err != nil {
		panic(err)
	}
	return b
}

// Write appends e as one line and syncs the file to disk.
func (l *Log) Write(e EpochRecord) error {
	line, err := encodeLine(e)
	if err != nil {
		return err
	}
	if _, err := l.f.Write(line); err != nil {
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
func ReadLog(path string) ([]EpochRecord, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var epochs []EpochRecord
	err = scan(path, b, false, func(e EpochRecord, _ []byte, _ int) error {
		epochs = append(epochs, e)
		return nil
	})
	return epochs, err
}

// errStopScan, returned by scan's f, ends the scan early without an error.
var errStopScan = errors.New("stop")

// scan decodes each non-blank line of b and calls f with the record, the line (without its
// newline) and the line's number; f's error ends the scan (errStopScan without an error). A
// malformed line is an error naming path and the line, except, with tornTail, a malformed last
// line that lacks its newline: the torn write of an interrupted run, which ends the scan.
func scan(path string, b []byte, tornTail bool, f func(e EpochRecord, line []byte, n int) error) error {
	for n := 1; len(b) > 0; n++ {
		line, rest, found := bytes.Cut(b, []byte{'\n'})
		b = rest
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e EpochRecord
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
		if err := f(e, line, n); err != nil {
			if errors.Is(err, errStopScan) {
				return nil
			}
			return err
		}
	}
	return nil
}

// writeAtomic writes path atomically (see atomicfile.Write), naming path in an error.
func writeAtomic(path string, write func(io.Writer) error) error {
	if err := atomicfile.Write(path, write); err != nil {
		return fmt.Errorf("report: %s: %w", path, err)
	}
	return nil
}
