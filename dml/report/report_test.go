package report

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeClock returns a clock that advances by step at each reading, starting at t0.
func fakeClock(step time.Duration) func() time.Time {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		now := t
		t = t.Add(step)
		return now
	}
}

func newTestProgress(buf *bytes.Buffer, interval, tick time.Duration) *Progress {
	p := NewProgress(buf, 2, 4, 4, 10)
	p.now = fakeClock(tick)
	p.start = p.now()
	p.last = p.start
	p.interval = interval
	return p
}

func TestProgressPlainEveryStep(t *testing.T) {
	var buf bytes.Buffer
	p := newTestProgress(&buf, 0, time.Second)
	for _, loss := range []float64{1, 0.5, 0.3, 0.2} {
		p.Step(loss)
	}
	p.Done()
	p.Step(9) // ignored after Done
	p.Done()
	want := []string{
		"epoch 2/4 step 1/4 loss 1.0000 10 img/s eta 3s",
		"epoch 2/4 step 2/4 loss 0.7500 10 img/s eta 2s",
		"epoch 2/4 step 3/4 loss 0.6000 10 img/s eta 1s",
		"epoch 2/4 step 4/4 loss 0.5000 10 img/s eta 0s",
		"epoch 2/4 step 4/4 loss 0.5000 8 img/s done in 5s",
	}
	checkLines(t, buf.String(), want)
}

// checkLines fails unless out, less one final newline, is exactly the lines want.
func checkLines(t *testing.T, out string, want []string) {
	t.Helper()
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestProgressPlainInterval(t *testing.T) {
	var buf bytes.Buffer
	// 4 s a step, a line at most every 10 s: lines after steps 3 (12 s) and 6 (24 s) only.
	p := NewProgress(&buf, 1, 1, 100, 32)
	p.now = fakeClock(4 * time.Second)
	p.start = p.now()
	p.last = p.start
	for i := 0; i < 7; i++ {
		p.Step(0.5)
	}
	p.Done()
	want := []string{
		"epoch 1/1 step 3/100 loss 0.5000 8 img/s eta 6m28s",
		"epoch 1/1 step 6/100 loss 0.5000 8 img/s eta 6m16s",
		"epoch 1/1 step 7/100 loss 0.5000 7 img/s done in 32s",
	}
	checkLines(t, buf.String(), want)
}

func TestProgressNotTerminalFile(t *testing.T) {
	// A regular file is no terminal: plain lines, no bar.
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := NewProgress(f, 1, 1, 2, 4)
	if p.bar != nil {
		t.Fatal("progress bar drawn into a regular file")
	}
	p.Step(1)
	p.Done()
	b, _ := os.ReadFile(f.Name())
	if !strings.Contains(string(b), "epoch 1/1 step 1/2 loss 1.0000") || !strings.HasSuffix(string(b), "\n") {
		t.Errorf("file holds %q", b)
	}
}

func TestEvalLine(t *testing.T) {
	e := Retrieval{Ks: []int{1, 2, 4, 8}, Recall: []float64{0.9512, 0.9701, 0.9822, 0.9901}, MAPAtR: 0.7123, NMI: 0.8012}
	want := "R@1 0.9512  R@2 0.9701  R@4 0.9822  R@8 0.9901  MAP@R 0.7123  NMI 0.8012"
	if got := EvalLine(e); got != want {
		t.Errorf("EvalLine = %q, want %q", got, want)
	}
	e.NMI = math.NaN()
	if got := EvalLine(e); strings.Contains(got, "NMI") || !strings.HasSuffix(got, "MAP@R 0.7123") {
		t.Errorf("EvalLine with NaN NMI = %q", got)
	}
}

func sampleEpochs() []EpochRecord {
	return []EpochRecord{
		{Epoch: 1, Loss: 2.5, LR: 1e-4, Steps: 10, Images: 320, Seconds: 4, ImagesPerSec: 80},
		{Epoch: 2, Loss: 1.25, LR: 1e-4, Steps: 10, Images: 320, Seconds: 4, ImagesPerSec: 80, Best: true,
			Eval: &Retrieval{Ks: []int{1, 2, 4, 8}, Recall: []float64{0.8, 0.85, 0.9, 0.95}, MAPAtR: 0.5, RPrecision: 0.6, NMI: 0.7}},
		{Epoch: 3, Loss: 0.75, LR: 5e-5, Steps: 10, Images: 320, Seconds: 5, ImagesPerSec: 64, Best: true,
			Eval: &Retrieval{Ks: []int{1, 2, 4, 8}, Recall: []float64{0.9634, 0.97, 0.98, 0.99}, MAPAtR: 0.6, RPrecision: 0.65, NMI: math.NaN()}},
	}
}

// sameEpochs compares epochs with NaN equal to NaN.
func sameEpochs(a, b []EpochRecord) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb) && len(a) == len(b)
}

func TestLogRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	l, err := CreateLog(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleEpochs()
	for _, e := range want {
		if err := l.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[2].Eval == nil || got[0].Eval != nil || got[1].Eval.Recall[3] != 0.95 || !got[2].Best || got[1].LR != 1e-4 {
		t.Fatalf("read back %+v", got)
	}
	if !math.IsNaN(got[2].Eval.NMI) {
		t.Errorf("NaN NMI read back as %v", got[2].Eval.NMI)
	}
	if !sameEpochs(got, want) {
		t.Errorf("round trip differs:\n%+v\n%+v", got, want)
	}
	b, _ := os.ReadFile(path)
	if lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"); len(lines) != 3 {
		t.Errorf("%d lines, want 3", len(lines))
	}
}

func TestNaNIsNull(t *testing.T) {
	e := EpochRecord{Epoch: 1, Loss: math.NaN(), Eval: &Retrieval{Ks: []int{1}, Recall: []float64{0.5}, NMI: math.NaN()}}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, `"nmi":null`) || !strings.Contains(s, `"loss":null`) || !strings.Contains(s, `"recall":[0.5]`) {
		t.Errorf("JSON %s", s)
	}
	var back EpochRecord
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(back.Eval.NMI) || !math.IsNaN(back.Loss) || back.Eval.Recall[0] != 0.5 || back.Epoch != 1 {
		t.Errorf("read back %+v %+v", back, *back.Eval)
	}
	if err := json.Unmarshal([]byte(`{"epoch":1,"eval":{"ks":[1,2],"recall":[0.5],"nmi":null}}`), &back); err == nil {
		t.Error("ks and recall of different lengths accepted")
	}
}

// CreateLog writes a resumed run's history afresh and appends after it.
func TestCreateLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	os.WriteFile(path, []byte("stale\n"), 0o644)
	l, err := CreateLog(path, sampleEpochs()[:1])
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(EpochRecord{Epoch: 2, Loss: 9}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	got, err := ReadLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Epoch != 1 || got[0].Loss != 2.5 || got[1].Epoch != 2 || got[1].Loss != 9 {
		t.Errorf("after CreateLog with epoch 1: %+v", got)
	}
	if tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// CheckLog finds the first line that does not hold the checkpoint's record, whether torn,
// deleted, changed or reordered, and accepts lines of a later, interrupted epoch.
func TestCheckLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	all := sampleEpochs()
	var lines []string
	for _, e := range all {
		lines = append(lines, strings.TrimSuffix(string(mustEncode(e)), "\n"))
	}
	check := func(want []EpochRecord, content string) error {
		t.Helper()
		os.WriteFile(path, []byte(content), 0o644)
		return CheckLog(path, want)
	}
	join := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	for _, ok := range []struct {
		want    []EpochRecord
		content string
	}{
		{all, join(lines...)},
		{all[:2], join(lines...)},                               // epoch 3 was not checkpointed
		{all[:2], join(lines[0], "", lines[1]) + lines[2][:20]}, // a blank line; epoch 3 torn
		{nil, ""},
	} {
		if err := check(ok.want, ok.content); err != nil {
			t.Errorf("%d records against %q: %v", len(ok.want), ok.content, err)
		}
	}
	for _, bad := range []struct {
		content, want string
	}{
		{join(lines[0], lines[2]), ":2: the record of epoch 3 differs"},                             // epoch 2 deleted
		{join(lines[0]), "the record of epoch 2 is missing after line 1"},                           // two deleted
		{join(lines[0], lines[1][:30]), "metrics.jsonl:2:"},                                         // torn mid-history
		{join(lines[0], lines[1]) + lines[2][:30], "the record of epoch 3 is missing after line 2"}, // torn last
		{join(lines[0], strings.Replace(lines[1], "1.25", "1.5", 1), lines[2]), ":2: the record of epoch 2 differs"},
		{join(lines[1], lines[0], lines[2]), ":1: the record of epoch 2 differs"},
		{join(lines[0], lines[1], lines[1], lines[2]), ":3: the record of epoch 2 differs"},
	} {
		err := check(all, bad.content)
		if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("CheckLog of %q: %v, want an error naming %s and %q", bad.content, err, path, bad.want)
		}
	}
	os.Remove(path)
	if err := CheckLog(path, all); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a missing log: %v", err)
	}
}

func TestMalformedLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	data := `{"epoch":1,"loss":1}` + "\n\n" + `{"epoch":2,"loss":"x"}` + "\n" + `{"epoch":3,"loss":1}` + "\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadLog(path)
	if err == nil || !strings.Contains(err.Error(), path+":3:") {
		t.Errorf("ReadLog error %v does not name %s:3", err, path)
	}
	if err := os.WriteFile(path, []byte(`{"epoch":0}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLog(path); err == nil || !strings.Contains(err.Error(), path+":1:") {
		t.Errorf("epoch 0 accepted: %v", err)
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		t.Errorf("%s: empty image %v", path, b)
	}
}

func checkNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); n != LossPlot && n != RecallPlot {
			t.Errorf("unexpected file %s in %s", n, dir)
		}
	}
}

func TestPlot(t *testing.T) {
	cases := map[string]struct {
		epochs   []EpochRecord
		baseline float64
	}{
		"all":         {sampleEpochs(), 0.8921},
		"one epoch":   {sampleEpochs()[1:2], 0.8921},
		"no eval":     {sampleEpochs()[:1], math.NaN()},
		"no eval, bl": {sampleEpochs()[:1], 0.5},
		"no epochs":   {nil, math.NaN()},
		"nan loss":    {[]EpochRecord{{Epoch: 1, Loss: math.NaN()}, {Epoch: 2, Loss: 1}}, math.NaN()},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Plot(dir, c.epochs, c.baseline); err != nil {
				t.Fatal(err)
			}
			checkPNG(t, filepath.Join(dir, LossPlot))
			checkPNG(t, filepath.Join(dir, RecallPlot))
			checkNoTemp(t, dir)
			// Plotting again replaces the files.
			if err := Plot(dir, c.epochs, c.baseline); err != nil {
				t.Fatal(err)
			}
			checkNoTemp(t, dir)
		})
	}
	if err := Plot(filepath.Join(t.TempDir(), "missing"), sampleEpochs(), math.NaN()); err == nil {
		t.Error("Plot into a missing directory succeeded")
	}
}

func TestSummary(t *testing.T) {
	var buf bytes.Buffer
	base := &Retrieval{Ks: []int{1, 2, 4, 8}, Recall: []float64{0.8921, 0.93, 0.95, 0.97}, MAPAtR: 0.4, NMI: 0.6}
	Summary(&buf, sampleEpochs(), base, []string{"out/metrics.jsonl", "out/loss.png"})
	s := buf.String()
	lines := strings.Split(s, "\n")
	wantRows := [][]string{
		{"epoch", "loss", "R@1", "R@2", "R@4", "R@8", "MAP@R", "NMI"},
		{"frozen", "-", "0.8921", "0.9300", "0.9500", "0.9700", "0.4000", "0.6000"},
		{"2", "1.2500", "0.8000", "0.8500", "0.9000", "0.9500", "0.5000", "0.7000"},
		{"3", "0.7500", "0.9634", "0.9700", "0.9800", "0.9900", "0.6000", "n/a"},
	}
	if len(lines) < len(wantRows) {
		t.Fatalf("summary:\n%s", s)
	}
	for i, want := range wantRows {
		if got := strings.Fields(lines[i]); !reflect.DeepEqual(got, want) {
			t.Errorf("row %d = %q, want %q", i, got, want)
		}
	}
	// Aligned: the columns of the table rows end at the same offsets.
	if len(lines[0]) != len(lines[2]) || len(lines[1]) != len(lines[3]) {
		t.Errorf("table not aligned:\n%s", s)
	}
	if strings.Contains(s, "\n1 ") {
		t.Errorf("unevaluated epoch 1 in the table:\n%s", s)
	}
	for _, want := range []string{
		"best R@1 0.9634 (epoch 3) vs frozen backbone 0.8921: +0.0713\n",
		"written:\n  out/metrics.jsonl\n  out/loss.png\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}

	buf.Reset()
	Summary(&buf, sampleEpochs()[:1], nil, nil)
	if s := buf.String(); s != "no evaluated epoch\n" {
		t.Errorf("summary without evaluations: %q", s)
	}
	buf.Reset()
	Summary(&buf, sampleEpochs(), nil, nil)
	if s := buf.String(); !strings.Contains(s, "best R@1 0.9634 (epoch 3)\n") || strings.Contains(s, "written") || strings.Contains(s, "frozen") {
		t.Errorf("summary without baseline:\n%s", s)
	}
}
