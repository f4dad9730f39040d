package dml

import (
	"testing"

	"github.com/semprox/semprox/dml/data"
)

// A batch the train split cannot fill is refused, naming the flags and a batch that fits.
func TestCheckBatchFits(t *testing.T) {
	split := func(classes, per int) *data.Split {
		s := &data.Split{Name: "train", Classes: classes}
		for c := range classes {
			for range per {
				s.Samples = append(s.Samples, data.Sample{Label: c})
			}
		}
		return s
	}
	for _, c := range []struct {
		shape BatchShape
		train *data.Split
		want  string
	}{
		{BatchShape{64, 2}, split(100, 2), ""},
		{BatchShape{32, 2}, split(10, 5), "-batch 32, -k 2: the train split has 10 classes with images, and a batch of 32 with 2 per class needs 16; -batch 20 -k 2 would fit"},
		{BatchShape{64, 2}, split(20, 2), "-batch 64, -k 2: the train split has only 40 images; -batch 40 -k 2 would fit"},
		{BatchShape{8, 4}, split(3, 1), "-batch 8, -k 4: the train split has only 3 images; -batch 3 -k 1 would fit"},
		{BatchShape{4, 2}, split(0, 0), "-batch 4, -k 2: the train split has only 0 images; no batch fits"},
	} {
		err := checkBatchFits(c.shape, c.train)
		if got := errString(err); got != c.want {
			t.Errorf("%+v on %d images:\n got %q\nwant %q", c.shape, len(c.train.Samples), got, c.want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
